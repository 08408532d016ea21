//! The Redis users of the benchmark, for `--plugin plugins/redis`: `RedisHammer` sends `GET`
//! after `GET` with no wait (CPU per command, against redis-benchmark), `RedisIdle` opens its
//! connection, sends one `GET`, then waits an hour (memory per idle user holding a connection).

use locust_redis::Redis;
use locust_sdk::prelude::*;

#[derive(Default)]
struct User {
    redis: Option<Redis>,
}

fn error(message: String) -> TaskExit {
    TaskExit::Error {
        message,
        traceback: String::new(),
    }
}

fn get(user: &mut User) -> TaskResult {
    let redis = user
        .redis
        .as_ref()
        .ok_or_else(|| error("not connected".to_owned()))?;
    redis.get("bench").map_err(error)?;
    Ok(())
}

fn connect(user: &mut User) -> TaskResult {
    user.redis = Some(Redis::connect_to_host().map_err(error)?);
    Ok(())
}

fn scenario() -> Scenario {
    Scenario::new()
        .user(
            UserClass::<User>::new("RedisHammer")
                .wait(constant(0.0))
                .on_start(connect)
                .task(Task::new("get", get)),
        )
        .user(
            UserClass::<User>::new("RedisIdle")
                .wait(constant(3600.0))
                .on_start(connect)
                .task(Task::new("get", get)),
        )
}

locust_sdk::export_users!(scenario);
