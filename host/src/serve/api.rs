//! The service's HTTP API, version 1, and its pages.
//!
//! Every route but `/` needs a tenant's token (`Authorization: Bearer TOKEN`, or HTTP basic
//! auth with the tenant's name and token, which browsers ask for on run pages). Everything a
//! route answers is scoped to that tenant: another tenant's run is `404`, as a missing one.
//! Every refusal is JSON, `{"error": "..."}`, with the status saying what kind (see
//! [`Refusal`]).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine as _;
use serde_json::json;
use tower::ServiceExt as _;

use super::runs::{Refusal, RunSettings, Service};
use super::tenants::Tenant;

/// The largest run settings document accepted.
const MAX_SETTINGS_BYTES: usize = 64 << 10;

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({"error": self.message}))).into_response()
    }
}

/// A 401: what is wrong with the credentials, and the challenge to send.
struct Unauthorized {
    message: &'static str,
    realm: &'static str,
}

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, self.realm)],
            axum::Json(json!({"error": self.message})),
        )
            .into_response()
    }
}

fn unauthorized(message: &'static str, realm: &'static str) -> Unauthorized {
    Unauthorized { message, realm }
}

/// The tenant a request's credentials name, or the 401 to answer.
fn tenant<'a>(
    service: &'a Service,
    headers: &HeaderMap,
    realm: &'static str,
) -> Result<&'a Tenant, Unauthorized> {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
    else {
        return Err(unauthorized(
            "this needs a tenant's token: send `Authorization: Bearer TOKEN`",
            realm,
        ));
    };
    let found = if let Some(token) = value.strip_prefix("Bearer ") {
        service.tenants().authenticate(token.trim())
    } else if let Some(encoded) = value.strip_prefix("Basic ") {
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|decoded| String::from_utf8(decoded).ok())
            .and_then(|pair| {
                let (name, token) = pair.split_once(':')?;
                service
                    .tenants()
                    .authenticate(token)
                    .filter(|tenant| tenant.name == name)
            })
    } else {
        None
    };
    found.ok_or_else(|| unauthorized("the token is not a tenant's", realm))
}

const API_REALM: &str = "Bearer realm=\"locust serve\"";
const PAGE_REALM: &str = "Basic realm=\"locust serve: your tenant name and token\"";

macro_rules! authed {
    ($service:expr, $headers:expr) => {
        match tenant(&$service, &$headers, API_REALM) {
            Ok(tenant) => tenant,
            Err(refusal) => return refusal.into_response(),
        }
    };
}

fn answer<T: serde::Serialize>(status: StatusCode, result: Result<T, Refusal>) -> Response {
    match result {
        Ok(value) => (status, axum::Json(value)).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn read_body(body: Body, limit: usize, what: &str) -> Result<bytes::Bytes, Refusal> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| Refusal {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!(
                "the {what} is larger than {} KiB, the most accepted",
                limit >> 10
            ),
        })
}

async fn whoami(State(service): State<Arc<Service>>, headers: HeaderMap) -> Response {
    let tenant = authed!(service, headers);
    axum::Json(json!({
        "name": tenant.name,
        "quota": tenant.quota,
        "allow_hosts": tenant.allow_hosts,
    }))
    .into_response()
}

async fn service_info(State(service): State<Arc<Service>>, headers: HeaderMap) -> Response {
    let _tenant = authed!(service, headers);
    axum::Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "workers_waiting": service.workers_waiting(),
    }))
    .into_response()
}

async fn upload(State(service): State<Arc<Service>>, headers: HeaderMap, body: Body) -> Response {
    let tenant = authed!(service, headers);
    let limit = ((tenant.quota.max_component_mib as usize) << 20) + 1;
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return Refusal {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: format!(
                    "the component is over the tenant's max-component-mib of {}",
                    tenant.quota.max_component_mib
                ),
            }
            .into_response();
        }
    };
    answer(
        StatusCode::CREATED,
        service.upload(tenant, bytes.to_vec()).await,
    )
}

async fn components(State(service): State<Arc<Service>>, headers: HeaderMap) -> Response {
    let tenant = authed!(service, headers);
    answer(
        StatusCode::OK,
        service
            .components(tenant)
            .await
            .map(|list| json!({"components": list})),
    )
}

async fn delete_component(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let tenant = authed!(service, headers);
    answer(
        StatusCode::OK,
        service
            .delete_component(tenant, &id)
            .await
            .map(|()| json!({"deleted": id})),
    )
}

async fn submit(State(service): State<Arc<Service>>, headers: HeaderMap, body: Body) -> Response {
    let tenant = authed!(service, headers);
    let bytes = match read_body(body, MAX_SETTINGS_BYTES, "run settings document").await {
        Ok(bytes) => bytes,
        Err(refusal) => return refusal.into_response(),
    };
    let settings: RunSettings = match serde_json::from_slice(&bytes) {
        Ok(settings) => settings,
        Err(error) => {
            return Refusal::bad(format!(
                "the run settings are not valid: {error}; send JSON such as {{\"component\": \"ID\", \"users\": 10, \"spawn_rate\": 2, \"run_time\": \"1m\", \"host\": \"http://127.0.0.1:8080\"}}"
            ))
            .into_response();
        }
    };
    let record = match service.submit(tenant, settings).await {
        Ok(record) => record,
        Err(refusal) => return refusal.into_response(),
    };
    match service.run(tenant, &record.id).await {
        // 202 for a run waiting in the queue, 201 for one started.
        Ok(view) if view.state() == super::store::RunState::Queued => {
            answer(StatusCode::ACCEPTED, Ok(view))
        }
        result => answer(StatusCode::CREATED, result),
    }
}

async fn runs(State(service): State<Arc<Service>>, headers: HeaderMap) -> Response {
    let tenant = authed!(service, headers);
    answer(
        StatusCode::OK,
        service.runs(tenant).await.map(|runs| json!({"runs": runs})),
    )
}

async fn run(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let tenant = authed!(service, headers);
    answer(StatusCode::OK, service.run(tenant, &id).await)
}

async fn stats(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let tenant = authed!(service, headers);
    answer(StatusCode::OK, service.stats(tenant, &id).await)
}

async fn exceptions(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let tenant = authed!(service, headers);
    answer(StatusCode::OK, service.exceptions(tenant, &id).await)
}

async fn csv(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path((id, name)): Path<(String, String)>,
) -> Response {
    let tenant = authed!(service, headers);
    let name = name.strip_suffix(".csv").unwrap_or(&name).to_owned();
    match service.csv(tenant, &id, &name).await {
        Ok(bytes) => crate::web::csv_download(&name, Ok(bytes)),
        Err(refusal) => refusal.into_response(),
    }
}

async fn stop(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let tenant = authed!(service, headers);
    answer(StatusCode::OK, service.stop(tenant, &id).await)
}

/// `/runs/{id}/...`: the run's own web UI while it is live.
async fn page(
    State(service): State<Arc<Service>>,
    Path(params): Path<Vec<(String, String)>>,
    request: Request,
) -> Response {
    let tenant = match tenant(&service, request.headers(), PAGE_REALM) {
        Ok(tenant) => tenant,
        Err(refusal) => return refusal.into_response(),
    };
    let id = params
        .iter()
        .find(|(key, _)| key == "id")
        .map(|(_, value)| value.clone())
        .unwrap_or_default();
    let rest = params
        .iter()
        .find(|(key, _)| key == "rest")
        .map(|(_, value)| value.clone())
        .unwrap_or_default();
    let Some(router) = service.page(tenant, &id) else {
        return Refusal::not_found(format!(
            "no live run {id}; a run's results stay at /api/v1/runs/{id}/stats after it ends"
        ))
        .into_response();
    };
    // The run's length and end are the service's: its page stops it through the service,
    // and may change the user count only while it runs.
    match rest.as_str() {
        "stop" => {
            return answer(
                StatusCode::OK,
                service
                    .stop(tenant, &id)
                    .await
                    .map(|_| json!({"success": true, "message": "Test stopped"})),
            );
        }
        "swarm" if !service.is_running(tenant, &id) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(
                    json!({"success": false, "message": "this run is over; submit a new one"}),
                ),
            )
                .into_response();
        }
        "stats/reset" => {
            return Refusal::forbidden("a run's statistics are its record; they cannot be reset")
                .into_response();
        }
        _ => {}
    }
    let (mut parts, body) = request.into_parts();
    let query = parts
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    parts.uri = match format!("/{rest}{query}").parse() {
        Ok(uri) => uri,
        Err(_) => return Refusal::bad("not a valid path").into_response(),
    };
    match router.oneshot(Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// `/runs/{id}`: the page lives at `/runs/{id}/` (its links are relative).
async fn page_slash(Path(id): Path<String>) -> Response {
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, format!("/runs/{id}/"))],
    )
        .into_response()
}

async fn home() -> Html<&'static str> {
    Html(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../web/serve.html"
    )))
}

async fn not_found() -> Response {
    Refusal::not_found(
        "no such route; the API is under /api/v1 (see the README's \"Running a shared service\")",
    )
    .into_response()
}

async fn wrong_method() -> Response {
    Refusal {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: "this route does not take that method".to_owned(),
    }
    .into_response()
}

/// The service's routes.
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/api/v1/tenant", get(whoami))
        .route("/api/v1/service", get(service_info))
        .route("/api/v1/components", post(upload).get(components))
        .route("/api/v1/components/{id}", delete(delete_component))
        .route("/api/v1/runs", post(submit).get(runs))
        .route("/api/v1/runs/{id}", get(run))
        .route("/api/v1/runs/{id}/stats", get(stats))
        .route("/api/v1/runs/{id}/exceptions", get(exceptions))
        .route("/api/v1/runs/{id}/csv/{name}", get(csv))
        .route("/api/v1/runs/{id}/stop", post(stop))
        .route("/runs/{id}", get(page_slash))
        .route("/runs/{id}/", axum::routing::any(page))
        .route("/runs/{id}/{*rest}", axum::routing::any(page))
        .fallback(not_found)
        .method_not_allowed_fallback(wrong_method)
        .with_state(service)
}
