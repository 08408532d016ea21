//! Locust's web API, same paths, form fields and JSON keys: `POST /swarm`, `GET /stop`,
//! `GET /stats/reset`, `GET /stats/requests`, the CSV downloads and `GET /exceptions`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Form, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use super::WebState;
use super::assets::escape_html;
use crate::config::StepLoad;
use crate::dist::master::WorkerInfo;
use crate::stats::csv::{render_exceptions_csv, render_failures_csv, render_stats_csv};
use crate::stats::{RequestStats, StatsEntry, unix_now};
use crate::timespan::parse_timespan;

fn refuse(message: impl Into<String>) -> Response {
    let body = json!({"success": false, "message": message.into()});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(
    form: &HashMap<String, String>,
    names: &[&str],
) -> Result<T, String> {
    let Some((name, text)) = names
        .iter()
        .find_map(|name| form.get(*name).map(|value| (*name, value)))
    else {
        return Err(format!("{} is required", names[0]));
    };
    match text.trim().parse::<T>() {
        Ok(value) if value > T::default() => Ok(value),
        _ => Err(format!("{name} must be a positive number (got \"{text}\")")),
    }
}

/// What a `POST /swarm` form asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct SwarmRequest {
    /// `user_count`.
    pub users: u64,
    /// `spawn_rate` (or Locust 1.0's `hatch_rate`).
    pub spawn_rate: f64,
    /// `host`, when given.
    pub host: Option<String>,
    /// `step_user_count` and `step_duration`, with `--step-load`.
    pub step_load: Option<StepLoad>,
}

/// Read a `POST /swarm` form (a stranger's input: every value is checked, one message when
/// one is wrong).
pub fn parse_swarm(
    form: &HashMap<String, String>,
    step_load: bool,
    shape: bool,
) -> Result<SwarmRequest, String> {
    let given = |names: &[&str]| names.iter().any(|name| form.contains_key(*name));
    // With a load shape the users and spawn rate are the shape's: the form may leave them out.
    let users: u64 = if shape && !given(&["user_count"]) {
        0
    } else {
        positive(form, &["user_count"])?
    };
    let spawn_rate = match ["hatch_rate", "spawn_rate"]
        .iter()
        .find_map(|name| form.get(*name))
    {
        None if shape => 1.0,
        None => return Err("hatch_rate is required".to_owned()),
        Some(text) => crate::run::spawn_rate::parse(text)
            .map_err(|message| format!("hatch_rate {message}"))?,
    };
    let step_load = step_load && !shape;
    let host = form
        .get("host")
        .cloned()
        .filter(|host| !host.trim().is_empty());
    if let Some(host) = &host {
        let valid =
            url::Url::parse(host.trim()).is_ok_and(|url| matches!(url.scheme(), "http" | "https"));
        if !valid {
            return Err(format!(
                "host must be a URL such as http://127.0.0.1:8080 (got \"{host}\")"
            ));
        }
    }
    let step_load = if step_load {
        let step_users: u64 = positive(form, &["step_user_count"])?;
        let text = form.get("step_duration").map(String::as_str).unwrap_or("");
        match parse_timespan(text) {
            Ok(time) if !time.is_zero() => Some(StepLoad {
                users: step_users,
                time,
            }),
            _ => {
                return Err(format!(
                    "step_duration must be a time span such as 30s (got \"{text}\")"
                ));
            }
        }
    } else {
        None
    };
    Ok(SwarmRequest {
        users,
        spawn_rate,
        host,
        step_load,
    })
}

/// `POST /swarm`: start a test, or change the user count and spawn rate of a running one.
pub async fn swarm(
    State(state): State<Arc<WebState>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let request = match parse_swarm(&form, state.step_load, state.session.shape().is_some()) {
        Ok(request) => request,
        Err(message) => return refuse(message),
    };
    if let Err(message) = state
        .session
        .start(
            request.users,
            request.spawn_rate,
            request.host,
            request.step_load,
        )
        .await
    {
        return refuse(message);
    }
    Json(json!({
        "success": true,
        "message": "Swarming started",
        "host": state.session.host(),
    }))
    .into_response()
}

/// `GET /stop`.
pub async fn stop(State(state): State<Arc<WebState>>) -> Response {
    state.session.stop().await;
    Json(json!({"success": true, "message": "Test stopped"})).into_response()
}

/// `GET /stats/reset`.
pub async fn reset(State(state): State<Arc<WebState>>) -> &'static str {
    state.session.stats().reset();
    "ok"
}

#[derive(Serialize)]
struct StatsRow<'a> {
    method: Option<&'a str>,
    name: &'a str,
    safe_name: String,
    num_requests: u64,
    num_failures: u64,
    avg_response_time: f64,
    min_response_time: f64,
    max_response_time: f64,
    current_rps: f64,
    current_fail_per_sec: f64,
    median_response_time: f64,
    ninetieth_response_time: f64,
    avg_content_length: f64,
    #[serde(rename = "response_time_percentile_0.95")]
    percentile_95: f64,
    #[serde(rename = "response_time_percentile_0.99")]
    percentile_99: f64,
}

impl<'a> StatsRow<'a> {
    fn of(entry: &'a StatsEntry, last: f64) -> Self {
        Self {
            method: (!entry.method.is_empty()).then_some(entry.method.as_str()),
            name: &entry.name,
            safe_name: escape_html(&entry.name),
            num_requests: entry.num_requests,
            num_failures: entry.num_failures,
            avg_response_time: entry.avg_response_time(),
            min_response_time: entry.min_response_time(),
            max_response_time: entry.max_response_time(),
            current_rps: entry.current_rps(last),
            current_fail_per_sec: entry.current_fail_per_sec(last),
            median_response_time: entry.median_response_time(),
            ninetieth_response_time: entry.percentile(0.9),
            avg_content_length: entry.avg_content_length(),
            percentile_95: entry.percentile(0.95),
            percentile_99: entry.percentile(0.99),
        }
    }
}

/// The JSON of `GET /stats/requests` for `state`'s session.
pub(crate) fn report_of(state: &WebState) -> serde_json::Value {
    let workers = state.session.workers();
    state
        .session
        .stats()
        .read(|stats| report(state, stats, workers))
}

fn report(state: &WebState, stats: &RequestStats, workers: Vec<WorkerInfo>) -> serde_json::Value {
    let rows: Vec<StatsRow<'_>> = stats
        .entries
        .values()
        .chain(std::iter::once(&stats.total))
        .map(|entry| StatsRow::of(entry, stats.last_request()))
        .collect();
    let errors: Vec<serde_json::Value> = stats
        .errors
        .iter()
        .map(|(key, occurrences)| {
            json!({"method": key.method, "name": key.name, "error": key.error, "occurrences": occurrences})
        })
        .collect();
    let window = state
        .window
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    json!({
        "stats": rows,
        "errors": errors,
        "total_rps": stats.total.current_rps(stats.last_request()),
        "fail_ratio": stats.total.fail_ratio(),
        "current_response_time_percentile_50": window.percentile(&stats.total, 0.5),
        "current_response_time_percentile_95": window.percentile(&stats.total, 0.95),
        "state": state.session.state().name(),
        "user_count": state.session.user_count(),
        "worker_count": workers.iter().filter(|worker| worker.state != "missing").count(),
        "workers": workers,
    })
}

/// `GET /stats/requests`: the live table, aggregated row last.
pub async fn requests(State(state): State<Arc<WebState>>) -> Response {
    Json(report_of(&state)).into_response()
}

/// A CSV file as a download named `{name}_{unix time}.csv`, or the error that kept it from
/// being rendered.
pub fn csv_download(name: &str, content: std::io::Result<Vec<u8>>) -> Response {
    match content {
        Ok(bytes) => {
            let disposition = format!("attachment; filename=\"{name}_{}.csv\"", unix_now() as u64);
            (
                [
                    (header::CONTENT_TYPE, "text/csv".to_owned()),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                bytes,
            )
                .into_response()
        }
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

/// `GET /stats/requests/csv`: the content of `_stats.csv`.
pub async fn requests_csv(State(state): State<Arc<WebState>>) -> Response {
    csv_download("requests", state.session.stats().read(render_stats_csv))
}

/// `GET /stats/failures/csv`: the content of `_failures.csv`.
pub async fn failures_csv(State(state): State<Arc<WebState>>) -> Response {
    csv_download("failures", state.session.stats().read(render_failures_csv))
}

/// The JSON of `GET /exceptions`: user errors with counts, messages and tracebacks.
pub(crate) fn exceptions_of(stats: &RequestStats) -> serde_json::Value {
    let list: Vec<serde_json::Value> = stats
        .user_errors
        .iter()
        .map(|entry| {
            json!({"count": entry.count, "msg": entry.message, "traceback": entry.traceback, "nodes": ["local"]})
        })
        .collect();
    json!({ "exceptions": list })
}

/// `GET /exceptions`.
pub async fn exceptions(State(state): State<Arc<WebState>>) -> Response {
    Json(state.session.stats().read(exceptions_of)).into_response()
}

/// The JSON of `GET /stats/metrics`: checks, group durations and custom metrics, one entry per
/// series (never requests: those are `/stats/requests`).
pub(crate) fn metrics_of(stats: &RequestStats) -> serde_json::Value {
    let seconds = (unix_now() - stats.total.start_time).max(0.0);
    json!({ "metrics": crate::metrics::render::to_json(&stats.metrics, seconds) })
}

/// `GET /stats/metrics`.
pub async fn metrics(State(state): State<Arc<WebState>>) -> Response {
    Json(state.session.stats().read(metrics_of)).into_response()
}

/// `GET /stats/metrics/csv`: the content of `_metrics.csv`.
pub async fn metrics_csv(State(state): State<Arc<WebState>>) -> Response {
    let content = state.session.stats().read(|stats| {
        let seconds = (unix_now() - stats.total.start_time).max(0.0);
        crate::metrics::render::render_csv(&stats.metrics, seconds)
    });
    csv_download("metrics", Ok(content))
}

/// `GET /exceptions/csv`.
pub async fn exceptions_csv(State(state): State<Arc<WebState>>) -> Response {
    csv_download(
        "exceptions",
        state.session.stats().read(render_exceptions_csv),
    )
}
