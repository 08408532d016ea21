//! A Redis user: each simulated user opens one connection in `on_start` and then writes and
//! reads keys of its own, through the redis plugin. Every command shows in the statistics
//! (`redis SET`, `redis GET`, `redis INCR`).
//!
//! Run with (from the repository root, a Redis server on 127.0.0.1:6379):
//!
//! ```text
//! cargo run --release -p locust -- -f examples/redis-user --plugin plugins/redis \
//!     --host redis://127.0.0.1:6379 --headless -u 20 -r 10 -t 30s
//! ```
//!
//! `--cache redis://HOST:PORT` points the users at another server than `--host` (an HTTP
//! target's cache, say); that server must then be granted with `--allow-host HOST:PORT`.

use locust_redis::{Redis, Reply};
use locust_sdk::prelude::*;

#[derive(Default)]
struct RedisUser {
    redis: Option<Redis>,
}

fn error(message: String) -> TaskExit {
    TaskExit::Error {
        message,
        traceback: String::new(),
    }
}

impl RedisUser {
    fn redis(&self) -> Result<&Redis, TaskExit> {
        self.redis
            .as_ref()
            .ok_or_else(|| error("not connected".to_owned()))
    }

    fn key(&self) -> String {
        format!("user:{}", locust_sdk::user_id())
    }
}

fn scenario() -> Scenario {
    Scenario::new()
        .option(
            "cache",
            None,
            "Redis server to use instead of --host, e.g. redis://127.0.0.1:6379",
        )
        .user(
            UserClass::<RedisUser>::new("RedisUser")
                .wait(between(0.01, 0.05))
                .on_start(|user: &mut RedisUser| {
                    let redis = match locust_sdk::option("cache") {
                        Some(address) => Redis::connect(&address),
                        None => Redis::connect_to_host(),
                    };
                    user.redis = Some(redis.map_err(error)?);
                    Ok(())
                })
                .task(
                    Task::new("write", |user: &mut RedisUser| {
                        let value = random::u32(0..1_000_000).to_string();
                        user.redis()?.set(user.key(), value).map_err(error)
                    })
                    .weight(1),
                )
                .task(
                    Task::new("read", |user: &mut RedisUser| {
                        user.redis()?.get(user.key()).map_err(error)?;
                        Ok(())
                    })
                    .weight(3),
                )
                .task(Task::new("count", |user: &mut RedisUser| {
                    match user.redis()?.command(["INCR", "visits"]).map_err(error)? {
                        Reply::Integer(_) => Ok(()),
                        other => Err(error(format!("INCR answered {other:?}"))),
                    }
                })),
        )
}

locust_sdk::export_users!(scenario);
