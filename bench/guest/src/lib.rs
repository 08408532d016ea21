//! The benchmark's users: `Hammer` sends `GET /hello` with no wait; `Idle` sends one request,
//! then waits an hour (for resident memory per idle user); `Names` makes 500 differently named
//! requests once (for the web API's statistics endpoint).

use locust_sdk::prelude::*;

#[derive(Default)]
struct Bench {
    client: HttpClient,
}

fn hello(user: &mut Bench) -> TaskResult {
    user.client.get("/hello").send();
    Ok(())
}

fn scenario() -> Scenario {
    Scenario::new()
        .user(UserClass::<Bench>::new("Hammer").task(Task::new("hello", hello)))
        .user(
            UserClass::<Bench>::new("Names")
                .wait(constant(3600.0))
                .task(Task::new("names", |user: &mut Bench| {
                    // 500 statistics entries, for the web API benchmark.
                    for index in 0..500 {
                        user.client
                            .get("/hello")
                            .name(format!("/name/{index}"))
                            .send();
                    }
                    Ok(())
                })),
        )
        .user(
            UserClass::<Bench>::new("Idle")
                .wait(constant(3600.0))
                .task(Task::new("hello", hello)),
        )
}

locust_sdk::export_users!(scenario);
