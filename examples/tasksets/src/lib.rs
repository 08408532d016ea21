//! Task sets as in Locust's documentation: a nested set that a user enters and leaves with
//! `interrupt`, a sequential set that walks a checkout in order, and tags to pick tasks.
//!
//! Run with (from the repository root):
//!
//! ```text
//! cargo run --release -p locust -- -f examples/tasksets --demo --headless -u 10 -r 5 -t 30s
//! cargo run --release -p locust -- -f examples/tasksets --demo --headless -u 10 -r 5 -t 30s --tags browse
//! ```

use locust_sdk::prelude::*;

/// A shopper: browses, sometimes reads the catalogue for a while, sometimes checks out.
#[derive(Default)]
struct Shopper {
    client: HttpClient,
    items_seen: u32,
}

impl Shopper {
    fn home(&mut self) -> TaskResult {
        self.client.get("/").send();
        Ok(())
    }

    fn view_item(&mut self) -> TaskResult {
        let id = random::u32(1..=100);
        self.client
            .get("/item")
            .query("id", id)
            .name("/item")
            .send();
        self.items_seen += 1;
        Ok(())
    }

    fn done_browsing(&mut self) -> TaskResult {
        // Back to the user's own tasks; wait first (reschedule = false).
        interrupt(false)
    }

    fn login(&mut self) -> TaskResult {
        self.client.post("/login").send();
        Ok(())
    }

    fn hello(&mut self) -> TaskResult {
        self.client.get("/hello").send();
        Ok(())
    }

    fn finish(&mut self) -> TaskResult {
        self.client.get("/world").name("/checkout/done").send();
        interrupt(true)
    }
}

fn scenario() -> Scenario {
    Scenario::new().user(
        UserClass::<Shopper>::new("Shopper")
            .wait(between(0.5, 2.0))
            .task(Task::new("home", Shopper::home).tag("browse"))
            .task(
                // Entered with weight 3; stays inside until `done_browsing` interrupts it.
                TaskSet::<Shopper>::new("Catalogue")
                    .weight(3)
                    .tag("browse")
                    .wait(between(0.2, 0.5))
                    .task(Task::new("view_item", Shopper::view_item).weight(5))
                    .task(Task::new("done_browsing", Shopper::done_browsing)),
            )
            .task(
                // Runs login, hello, finish in this order, then leaves.
                TaskSet::<Shopper>::sequential("Checkout")
                    .tag("checkout")
                    .task(Task::new("login", Shopper::login))
                    .task(Task::new("hello", Shopper::hello))
                    .task(Task::new("finish", Shopper::finish)),
            ),
    )
}

locust_sdk::export_users!(scenario);
