//! A WebSocket user: each simulated user opens one `ws://` connection to its host in
//! `on_start` and then sends messages and waits for their echo (a chat or a quote feed would
//! look the same), through the websocket plugin: `websocket echo` in the statistics, plus
//! `websocket connect`.
//!
//! Run with (from the repository root, an echo server on 127.0.0.1:8765):
//!
//! ```text
//! cargo run --release -p locust -- -f examples/websocket-user --plugin plugins/websocket \
//!     --host ws://127.0.0.1:8765 --headless -u 20 -r 10 -t 30s
//! ```

use locust_sdk::prelude::*;
use locust_websocket::WebSocket;

#[derive(Default)]
struct EchoUser {
    socket: Option<WebSocket>,
    sent: u64,
}

fn error(message: String) -> TaskExit {
    TaskExit::Error {
        message,
        traceback: String::new(),
    }
}

fn scenario() -> Scenario {
    Scenario::new().user(
        UserClass::<EchoUser>::new("EchoUser")
            .wait(between(0.01, 0.05))
            .on_start(|user: &mut EchoUser| {
                let host = locust_sdk::host().ok_or_else(|| error("no --host".to_owned()))?;
                user.socket = Some(WebSocket::connect(&host).map_err(error)?);
                Ok(())
            })
            .on_stop(|user: &mut EchoUser| {
                if let Some(socket) = user.socket.take() {
                    socket.close();
                }
                Ok(())
            })
            .task(Task::new("echo", |user: &mut EchoUser| {
                user.sent += 1;
                let text = format!("message {} of user {}", user.sent, locust_sdk::user_id());
                let socket = user
                    .socket
                    .as_ref()
                    .ok_or_else(|| error("not connected".to_owned()))?;
                let answer = socket
                    .request_text(&text, "echo", Some(5.0))
                    .map_err(error)?;
                if answer != text {
                    return Err(error(format!("echo {answer:?} for {text:?}")));
                }
                Ok(())
            })),
    )
}

locust_sdk::export_users!(scenario);
