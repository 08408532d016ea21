//! The quick start from Locust's documentation, as a Rust user component.
//!
//! Run with (from the repository root; `--demo` serves the routes below on 127.0.0.1):
//!
//! ```text
//! cargo run --release -p locust -- -f examples/quickstart --demo --headless -u 10 -r 2 -t 30s
//! ```

use std::time::Duration;

use locust_sdk::prelude::*;

/// One simulated visitor: logs in, then mostly looks at items.
#[derive(Default)]
struct QuickstartUser {
    client: HttpClient,
}

impl QuickstartUser {
    fn on_start(&mut self) -> TaskResult {
        self.client
            .post("/login")
            .json(&serde_json::json!({"username": "foo", "password": "bar"}))
            .send();
        Ok(())
    }

    fn hello_world(&mut self) -> TaskResult {
        self.client.get("/hello").send();
        self.client.get("/world").send();
        Ok(())
    }

    fn view_items(&mut self) -> TaskResult {
        for item_id in 0..10 {
            // All ten URLs are counted together under the name "/item".
            self.client
                .get("/item")
                .query("id", item_id)
                .name("/item")
                .send();
            std::thread::sleep(Duration::from_secs(1));
        }
        Ok(())
    }
}

fn scenario() -> Scenario {
    Scenario::new().user(
        UserClass::<QuickstartUser>::new("QuickstartUser")
            .wait(between(5.0, 9.0))
            .on_start(QuickstartUser::on_start)
            .task(Task::new("hello_world", QuickstartUser::hello_world))
            .task(Task::new("view_items", QuickstartUser::view_items).weight(3)),
    )
}

locust_sdk::export_users!(scenario);
