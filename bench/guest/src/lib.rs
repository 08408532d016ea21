//! The benchmark's users: `Hammer` sends `GET /hello` with no wait, `Steady` every half second
//! (so that its connection is parked between requests); `Idle` sends one request,
//! then waits an hour (for resident memory per idle user and the spawn rate), and `Sleeper` the same
//! without the request (instances without connections, to count 100,000 where open files are
//! too few for 100,000 connections); `Names` makes 500
//! differently named requests once (for the web API's statistics endpoint); `Delayed` asks for
//! `/delay` (answered after a random 10–50 ms, for accuracy).

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
                .task(Task::new("hello", |user: &mut Bench| {
                    // One connection per user: spread over 127.0.0.1–8 (the target listens on
                    // all eight), as one address pair has only ~28,000 ephemeral ports.
                    let host = locust_sdk::host().unwrap_or_default();
                    let spread = 1 + locust_sdk::user_id() % 8;
                    let host = host.replacen("127.0.0.1", &format!("127.0.0.{spread}"), 1);
                    user.client
                        .get(&format!("{host}/hello"))
                        .name("/hello")
                        .send();
                    Ok(())
                })),
        )
        .user(
            UserClass::<Bench>::new("Sleeper")
                .wait(constant(3600.0))
                .task(Task::new("nothing", |_user: &mut Bench| Ok(()))),
        )
        .user(
            UserClass::<Bench>::new("Steady")
                .wait(constant(0.5))
                .task(Task::new("hello", hello)),
        )
        .user(
            UserClass::<Bench>::new("Delayed").task(Task::new("delay", |user: &mut Bench| {
                user.client.get("/delay").send();
                Ok(())
            })),
        )
}

locust_sdk::export_users!(scenario);
