//! `locust:runtime/http`: validate the guest's request, perform it with the user's
//! [`HttpAgent`](crate::http::HttpAgent), record it, and hand the response back: status and
//! outcome at once, the URL, headers and body on demand (see [`super::responses`]).

use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use hyper::header::HeaderMap;
use wasmtime::component::Resource;

use super::bindings::http::{Host, HostResponseData, Request, Response, Verdict};
use super::responses::{FinalUrl, HeldResponse, ResponseData};
use super::state::{PendingRequest, UserState};
use crate::events::RequestEvent;
use crate::http::{GuestUrl, HttpRequest};

impl UserState {
    fn failed_before_sending(
        &mut self,
        method: &str,
        name: &str,
        error: String,
    ) -> wasmtime::Result<Response> {
        self.reporter.request(&RequestEvent {
            request_type: method,
            name,
            response_time: Duration::ZERO,
            response_length: 0,
            error: Some(&error),
        });
        let data = self.hold(HeldResponse {
            url: FinalUrl::Unsent(name.to_owned()),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        })?;
        Ok(Response {
            id: 0,
            status: 0,
            elapsed_ms: 0.0,
            error: Some(error),
            data,
        })
    }

    /// Keep `response` for the guest; the guest's handle to it.
    fn hold(&mut self, response: HeldResponse) -> wasmtime::Result<Resource<ResponseData>> {
        let handle = self.responses.hold(response)?;
        Ok(Resource::new_own(handle))
    }

    /// The response behind the guest's `handle`.
    fn held(&self, handle: &Resource<ResponseData>) -> wasmtime::Result<&HeldResponse> {
        self.responses
            .get(handle.rep())
            .ok_or_else(|| wasmtime::format_err!("unknown response handle {}", handle.rep()))
    }
}

/// Locust's wording for an HTTP error status, keyed by the request's name so that the
/// failures table groups like the statistics do.
fn status_error(status: u16, reason: &str, name: &str) -> Option<String> {
    let kind = match status {
        400..=499 => "Client Error",
        500..=599 => "Server Error",
        _ => return None,
    };
    Some(format!("{status} {kind}: {reason} for url: {name}"))
}

impl Host for UserState {
    async fn send(&mut self, request: Request) -> wasmtime::Result<Response> {
        self.send_recorded(request, None).await
    }

    async fn send_as(
        &mut self,
        request: Request,
        request_type: String,
    ) -> wasmtime::Result<Response> {
        self.send_recorded(request, Some(request_type)).await
    }

    async fn resolve(&mut self, id: u64, verdict: Verdict) {
        let Some(index) = self.pending.iter().position(|pending| pending.id == id) else {
            return;
        };
        let pending = self.pending.swap_remove(index);
        let verdict_error = match verdict {
            Verdict::Success => Some(None),
            Verdict::Failure(message) => Some(Some(message)),
            Verdict::ByStatus => None,
        };
        self.record_pending(pending, verdict_error);
    }
}

impl UserState {
    /// Perform `request` and record it under `request_type`, or its method.
    async fn send_recorded(
        &mut self,
        request: Request,
        request_type: Option<String>,
    ) -> wasmtime::Result<Response> {
        let recorded_type: &str = request_type.as_deref().unwrap_or(&request.method);
        // Checked here; the URL is resolved by the agent (see `http::target`).
        let unsent_name = |request: &Request| request.name.clone().unwrap_or(request.url.clone());
        let Ok(method) = Method::from_bytes(request.method.as_bytes()) else {
            let error = format!("invalid HTTP method `{}`", request.method);
            let name = unsent_name(&request);
            return self.failed_before_sending(recorded_type, &name, error);
        };
        let timeout = match request.timeout.map(Duration::try_from_secs_f64) {
            Some(Ok(limit)) => Some(limit),
            Some(Err(_)) => {
                let error = format!("invalid timeout {:?}", request.timeout);
                let name = unsent_name(&request);
                return self.failed_before_sending(recorded_type, &name, error);
            }
            None => None,
        };
        let mut headers = request.headers;
        let body = match (request.body, request.json) {
            (Some(body), _) => Bytes::from(body),
            (None, Some(json)) => {
                if !headers
                    .iter()
                    .any(|(key, _)| key.eq_ignore_ascii_case("content-type"))
                {
                    headers.push(("content-type".to_owned(), "application/json".to_owned()));
                }
                Bytes::from(json)
            }
            (None, None) => Bytes::new(),
        };
        let sent = self
            .exchange
            .execute(HttpRequest {
                method,
                url: GuestUrl {
                    url: request.url,
                    query: request.query,
                    name: request.name,
                },
                headers,
                body,
                basic_auth: request.basic_auth,
                timeout,
                allow_redirects: request.allow_redirects,
                max_body: request
                    .max_response_size
                    .map(|bytes| usize::try_from(bytes).unwrap_or(usize::MAX)),
            })
            .await;
        let name = sent.name;
        let outcome = match sent.outcome {
            Ok(outcome) => outcome,
            Err(error) => return self.failed_before_sending(recorded_type, &name, error),
        };
        let error = outcome
            .transport_error
            .or_else(|| status_error(outcome.status, outcome.reason, &name));
        let length = outcome.body.len() as u64;
        let id = self.next_response_id;
        self.next_response_id += 1;
        if request.catch_response {
            self.pending.push(PendingRequest {
                id,
                method: recorded_type.to_owned(),
                name,
                elapsed: outcome.elapsed,
                length,
                default_error: error.clone(),
            });
        } else {
            self.reporter.request(&RequestEvent {
                request_type: recorded_type,
                name: &name,
                response_time: outcome.elapsed,
                response_length: length,
                error: error.as_deref(),
            });
        }
        let data = self.hold(HeldResponse {
            url: FinalUrl::Resolved(outcome.url),
            headers: outcome.headers,
            body: outcome.body,
        })?;
        Ok(Response {
            id,
            status: outcome.status,
            elapsed_ms: outcome.elapsed.as_secs_f64() * 1000.0,
            error,
            data,
        })
    }
}

impl HostResponseData for UserState {
    fn url(&mut self, handle: Resource<ResponseData>) -> wasmtime::Result<String> {
        Ok(match &self.held(&handle)?.url {
            FinalUrl::Resolved(url) => url.as_str().to_owned(),
            FinalUrl::Unsent(url) => url.clone(),
        })
    }

    fn headers(
        &mut self,
        handle: Resource<ResponseData>,
    ) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self
            .held(&handle)?
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect())
    }

    fn body(&mut self, handle: Resource<ResponseData>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.held(&handle)?.body.to_vec())
    }

    fn drop(&mut self, handle: Resource<ResponseData>) -> wasmtime::Result<()> {
        self.responses.release(handle.rep());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_errors_use_locust_wording() {
        assert_eq!(
            status_error(404, "Not Found", "/item").as_deref(),
            Some("404 Client Error: Not Found for url: /item")
        );
        assert_eq!(
            status_error(503, "Service Unavailable", "/").as_deref(),
            Some("503 Server Error: Service Unavailable for url: /")
        );
        assert_eq!(status_error(302, "Found", "/"), None);
    }
}
