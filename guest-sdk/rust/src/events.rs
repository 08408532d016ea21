//! Record operations of custom clients so they count in the statistics like HTTP requests
//! (Locust's `request_success` / `request_failure` events).

use std::time::Instant;

pub use crate::bindings::locust::runtime::types::RequestRecord;

/// Record one request-like operation.
pub fn request(record: &RequestRecord) {
    crate::bindings::locust::runtime::events::request(record);
}

/// Time `operation` and record it under `request_type` and `name`. The operation returns the
/// response length on success, or the failure's message.
pub fn measure<T>(
    request_type: &str,
    name: &str,
    operation: impl FnOnce() -> Result<(T, u64), String>,
) -> Result<T, String> {
    let started = Instant::now();
    let result = operation();
    let response_time_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (value, record) = match result {
        Ok((value, length)) => (
            Ok(value),
            RequestRecord {
                request_type: request_type.to_owned(),
                name: name.to_owned(),
                response_time_ms,
                response_length: length,
                error: None,
            },
        ),
        Err(message) => (
            Err(message.clone()),
            RequestRecord {
                request_type: request_type.to_owned(),
                name: name.to_owned(),
                response_time_ms,
                response_length: 0,
                error: Some(message),
            },
        ),
    };
    request(&record);
    value
}
