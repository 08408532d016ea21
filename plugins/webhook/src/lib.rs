//! The webhook listener plugin: posts the test's events and its recorded requests as JSON to
//! `--webhook-url` (a chat webhook, a collector in front of a time-series database...).
//!
//! ```text
//! locust -f examples/quickstart --plugin plugins/webhook --webhook-url http://127.0.0.1:9000/locust \
//!     --allow-host 127.0.0.1:9000 --host http://... --headless -u 10 -t 1m
//! ```
//!
//! Bodies: `{"event": "test_start"}`, `{"event": "test_stop"}`, and about once a second
//! `{"event": "requests", "dropped": N, "requests": [{"type", "name", "response_time_ms",
//! "response_length", "error"}, ...]}`. The webhook's host must be granted (`--allow-host`); its
//! requests are not recorded in the statistics. A failed post is logged and the test goes on.

#[allow(unsafe_code, reason = "the glue wit-bindgen generates")]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "listener-plugin",
        generate_all,
    });

    use super::Plugin;
    export!(Plugin);
}

use bindings::exports::locust::runtime::listener;
use bindings::exports::locust::runtime::plugin::{self, PluginInfo};
use bindings::locust::runtime::context;
use bindings::locust::runtime::http::{self, Request};
use bindings::locust::runtime::log::{self, Level};
use bindings::locust::runtime::types::{OptionSpec, RequestRecord};
use serde_json::{Value, json};

/// Where the events go.
const URL_OPTION: &str = "webhook-url";

struct Plugin;

impl plugin::Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "webhook".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            options: vec![OptionSpec {
                name: URL_OPTION.to_owned(),
                default: None,
                help: "URL the webhook plugin POSTs test events and request batches to (grant \
                       its host with --allow-host)"
                    .to_owned(),
            }],
        }
    }
}

/// POST `body` to the webhook, if one is set.
fn post(body: &Value) {
    let Some(url) = context::get_option(URL_OPTION) else {
        return;
    };
    let response = http::send(&Request {
        method: "POST".to_owned(),
        url,
        headers: Vec::new(),
        query: Vec::new(),
        body: None,
        json: Some(body.to_string()),
        basic_auth: None,
        timeout: Some(10.0),
        allow_redirects: true,
        name: None,
        catch_response: false,
        max_response_size: Some(1 << 20),
    });
    if let Some(error) = response.error {
        log::write(Level::Warning, &format!("webhook post failed: {error}"));
    }
}

fn record(request: &RequestRecord) -> Value {
    json!({
        "type": request.request_type,
        "name": request.name,
        "response_time_ms": request.response_time_ms,
        "response_length": request.response_length,
        "error": request.error,
    })
}

impl listener::Guest for Plugin {
    fn test_start() {
        post(&json!({"event": "test_start"}));
    }

    fn test_stop() {
        post(&json!({"event": "test_stop"}));
    }

    fn on_requests(batch: Vec<RequestRecord>, dropped: u64) {
        let requests: Vec<Value> = batch.iter().map(record).collect();
        post(&json!({"event": "requests", "dropped": dropped, "requests": requests}));
    }
}
