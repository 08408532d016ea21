//! `self.client`: HTTP requests performed, timed and recorded by the host.

use std::cell::OnceCell;
use std::ops::Deref;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::locust::runtime::http::{self as wire, Verdict};

/// A user's HTTP client, like Locust's `self.client`. It holds no state of its own: the
/// connections and the cookie jar belong to the user in the host. Keep one in the user struct
/// as `client` so tasks read `self.client.get("/")`.
#[derive(Debug, Default, Clone, Copy)]
pub struct HttpClient;

impl HttpClient {
    /// Start a request with any method.
    pub fn request(&self, method: &str, url: &str) -> RequestBuilder {
        RequestBuilder {
            request: wire::Request {
                method: method.to_ascii_uppercase(),
                url: url.to_owned(),
                headers: Vec::new(),
                query: Vec::new(),
                body: None,
                json: None,
                basic_auth: None,
                timeout: None,
                allow_redirects: true,
                name: None,
                catch_response: false,
                max_response_size: None,
            },
            json_error: None,
            request_type: None,
        }
    }

    /// A `GET` request.
    pub fn get(&self, url: &str) -> RequestBuilder {
        self.request("GET", url)
    }

    /// A `POST` request.
    pub fn post(&self, url: &str) -> RequestBuilder {
        self.request("POST", url)
    }

    /// A `PUT` request.
    pub fn put(&self, url: &str) -> RequestBuilder {
        self.request("PUT", url)
    }

    /// A `PATCH` request.
    pub fn patch(&self, url: &str) -> RequestBuilder {
        self.request("PATCH", url)
    }

    /// A `DELETE` request.
    pub fn delete(&self, url: &str) -> RequestBuilder {
        self.request("DELETE", url)
    }

    /// A `HEAD` request.
    pub fn head(&self, url: &str) -> RequestBuilder {
        self.request("HEAD", url)
    }

    /// An `OPTIONS` request.
    pub fn options(&self, url: &str) -> RequestBuilder {
        self.request("OPTIONS", url)
    }
}

/// A request being put together; finish it with [`send`](Self::send) or
/// [`catch_response`](Self::catch_response).
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    request: wire::Request,
    json_error: Option<String>,
    request_type: Option<String>,
}

impl RequestBuilder {
    /// Record the request under this type instead of its method (a custom client's protocol
    /// carried over HTTP, e.g. `xmlrpc`); the host still times it.
    pub fn request_type(mut self, request_type: impl Into<String>) -> Self {
        self.request_type = Some(request_type.into());
        self
    }

    /// Group statistics under `name` instead of the URL (`name=`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.request.name = Some(name.into());
        self
    }

    /// Add a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.request.headers.push((name.into(), value.into()));
        self
    }

    /// Add a query parameter (`params=`).
    pub fn query(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        self.request.query.push((name.into(), value.to_string()));
        self
    }

    /// Send these bytes as the body (`data=`).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.request.body = Some(body.into());
        self
    }

    /// Send `value` as a JSON body (`json=`).
    pub fn json(mut self, value: &impl Serialize) -> Self {
        match serde_json::to_string(value) {
            Ok(text) => self.request.json = Some(text),
            Err(error) => self.json_error = Some(error.to_string()),
        }
        self
    }

    /// HTTP basic authentication (`auth=`).
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.request.basic_auth = Some((user.into(), password.into()));
        self
    }

    /// Fail with status 0 if the whole exchange takes longer than `seconds`.
    pub fn timeout(mut self, seconds: f64) -> Self {
        self.request.timeout = Some(seconds);
        self
    }

    /// Read at most `bytes` of the response body (after decompression) instead of the run's
    /// `--max-response-size`; a larger body fails the request.
    pub fn max_response_size(mut self, bytes: u64) -> Self {
        self.request.max_response_size = Some(bytes);
        self
    }

    /// Follow redirects (the default) or not.
    pub fn allow_redirects(mut self, allow: bool) -> Self {
        self.request.allow_redirects = allow;
        self
    }

    /// Send the request and wait for the whole response. Never fails: a connection error or
    /// timeout comes back with status 0 and [`Response::error`] set, already recorded.
    pub fn send(self) -> Response {
        self.perform()
    }

    /// Send the request and decide yourself whether it succeeded (`catch_response=True`).
    /// The request is recorded when the returned guard is dropped: as a success after
    /// [`CaughtResponse::success`], a failure after [`CaughtResponse::failure`], else by status.
    pub fn catch_response(mut self) -> CaughtResponse {
        self.request.catch_response = true;
        CaughtResponse {
            response: self.perform(),
            verdict: Verdict::ByStatus,
        }
    }

    fn perform(self) -> Response {
        if let Some(error) = self.json_error {
            return Response {
                id: 0,
                status: 0,
                elapsed_ms: 0.0,
                error: Some(format!("could not encode the JSON body: {error}")),
                data: None,
                url: OnceCell::from(self.request.url),
                headers: OnceCell::from(Vec::new()),
                body: OnceCell::from(Vec::new()),
            };
        }
        let response = match &self.request_type {
            Some(request_type) => wire::send_as(&self.request, request_type),
            None => wire::send(&self.request),
        };
        Response {
            id: response.id,
            status: response.status,
            elapsed_ms: response.elapsed_ms,
            error: response.error,
            data: Some(response.data),
            url: OnceCell::new(),
            headers: OnceCell::new(),
            body: OnceCell::new(),
        }
    }
}

/// A response. Its status, timing and error are here at once; its URL, headers and body stay
/// in the host until first asked for (then kept), so a task that only checks the status copies
/// nothing. Drop it when done: a user may hold at most 1,000 responses, and their bodies count
/// against its memory limit.
pub struct Response {
    id: u64,
    /// HTTP status, or 0 if no response arrived.
    pub status: u16,
    /// Time from sending to the end of the body, milliseconds.
    pub elapsed_ms: f64,
    /// Why the request failed (connection error, timeout, status >= 400), if it did.
    pub error: Option<String>,
    data: Option<wire::ResponseData>,
    url: OnceCell<String>,
    headers: OnceCell<Vec<(String, String)>>,
    body: OnceCell<Vec<u8>>,
}

impl Response {
    /// Whether the request succeeded (no error and status below 400).
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// The URL of the final response, after redirects.
    pub fn url(&self) -> &str {
        self.url.get_or_init(|| {
            self.data
                .as_ref()
                .map(|data| data.url())
                .unwrap_or_default()
        })
    }

    /// Headers, names in lower case, in the order received.
    pub fn headers(&self) -> &[(String, String)] {
        self.headers.get_or_init(|| {
            self.data
                .as_ref()
                .map(|data| data.headers())
                .unwrap_or_default()
        })
    }

    /// The body, decompressed.
    pub fn body(&self) -> &[u8] {
        self.body.get_or_init(|| {
            self.data
                .as_ref()
                .map(|data| data.body())
                .unwrap_or_default()
        })
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.body()).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(self.body())
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl std::fmt::Debug for Response {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Response")
            .field("status", &self.status)
            .field("elapsed_ms", &self.elapsed_ms)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// A response whose success the task decides; recorded when dropped.
pub struct CaughtResponse {
    response: Response,
    verdict: Verdict,
}

impl CaughtResponse {
    /// Record the request as a success, whatever its status.
    pub fn success(&mut self) {
        self.verdict = Verdict::Success;
    }

    /// Record the request as a failure with `message`.
    pub fn failure(&mut self, message: impl Into<String>) {
        self.verdict = Verdict::Failure(message.into());
    }
}

impl Deref for CaughtResponse {
    type Target = Response;

    fn deref(&self) -> &Response {
        &self.response
    }
}

impl Drop for CaughtResponse {
    fn drop(&mut self) {
        if self.response.id != 0 {
            let verdict = std::mem::replace(&mut self.verdict, Verdict::ByStatus);
            wire::resolve(self.response.id, &verdict);
        }
    }
}
