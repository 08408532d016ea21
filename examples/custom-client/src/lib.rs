//! A custom client that records its own request events, as Locust's "testing other systems"
//! section shows: here a small key-value client whose `get` times itself and checks the reply,
//! and shows up in the statistics as type `kv`, next to the HTTP requests it is made of.
//!
//! Run with (from the repository root):
//!
//! ```text
//! cargo run --release -p locust -- -f examples/custom-client --demo --headless -u 5 -r 5 -t 20s
//! ```

use locust_sdk::events::{self, RequestRecord};
use locust_sdk::prelude::*;

/// A client for a key-value service reached over HTTP.
#[derive(Default)]
struct KvClient {
    http: HttpClient,
}

impl KvClient {
    /// Fetch `key`, recording one `kv get` event with our own verdict on the reply.
    fn get(&self, key: u32) -> Result<String, String> {
        events::measure("kv", "get", || {
            let response = self.http.get("/item").query("id", key).name("/item").send();
            if !response.ok() {
                return Err(response.error.unwrap_or_default());
            }
            let value: serde_json::Value = response.json().map_err(|error| error.to_string())?;
            let name = value["name"].as_str().ok_or("reply without a name")?;
            Ok((name.to_owned(), response.body().len() as u64))
        })
    }
}

#[derive(Default)]
struct KvUser {
    kv: KvClient,
}

fn scenario() -> Scenario {
    Scenario::new().user(
        UserClass::<KvUser>::new("KvUser")
            .wait(between(0.1, 0.5))
            .task(Task::new("read", |user: &mut KvUser| {
                let key = random::u32(1..=1000);
                user.kv.get(key).map_err(|error| TaskExit::Error {
                    message: format!("kv get {key} failed: {error}"),
                    traceback: String::new(),
                })?;
                Ok(())
            }))
            .task(Task::new("ping", |_user: &mut KvUser| {
                // An event without any request behind it: a locally computed operation.
                events::request(&RequestRecord {
                    request_type: "kv".to_owned(),
                    name: "ping".to_owned(),
                    response_time_ms: 0.5,
                    response_length: 4,
                    error: None,
                });
                Ok(())
            })),
    )
}

locust_sdk::export_users!(scenario);
