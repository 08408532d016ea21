//! The XML-RPC user of Locust's documentation ("Testing other systems using custom clients"),
//! in Rust over the xmlrpc plugin: `ApiUser` calls `get_time` and `get_random_number` on the
//! documentation's `SimpleXMLRPCServer` (`examples/python/xmlrpc_server.py`). Each call is
//! recorded as `xmlrpc get_time`, `xmlrpc get_random_number`; a fault is a failure
//! (`MissingMethodUser` calls a method the server lacks).
//!
//! Run with (from the repository root):
//!
//! ```text
//! python3 examples/python/xmlrpc_server.py &
//! cargo run --release -p locust -- -f examples/xmlrpc-user --plugin plugins/xmlrpc \
//!     --headless -u 5 -r 5 -t 30s ApiUser
//! ```

use locust_sdk::prelude::*;
use locust_xmlrpc::{CallError, Value, XmlRpc};

#[derive(Default)]
struct ApiUser;

/// Faults are recorded as failures already; the task goes on.
fn called(result: Result<Value, CallError>) -> TaskResult {
    match result {
        Ok(_) | Err(CallError::Fault(_)) => Ok(()),
        Err(error) => fail(locust_xmlrpc::message(&error)),
    }
}

fn server() -> XmlRpc {
    XmlRpc::new("/")
}

fn scenario() -> Scenario {
    Scenario::new()
        .user(
            UserClass::<ApiUser>::new("ApiUser")
                .host("http://127.0.0.1:8877")
                .wait(between(0.1, 1.0))
                .task(
                    Task::new("get_time", |_: &mut ApiUser| {
                        called(server().call("get_time", &[]))
                    })
                    .weight(10),
                )
                .task(
                    Task::new("get_random_number", |_: &mut ApiUser| {
                        called(
                            server().call("get_random_number", &[Value::Int(0), Value::Int(100)]),
                        )
                    })
                    .weight(5),
                ),
        )
        .user(
            UserClass::<ApiUser>::new("MissingMethodUser")
                .host("http://127.0.0.1:8877")
                .wait(constant(0.1))
                .task(Task::new("missing", |_: &mut ApiUser| {
                    called(server().call("no_such_method", &[]))
                })),
        )
}

locust_sdk::export_users!(scenario);
