//! WebSocket for Rust user components, served by the websocket plugin: build the user with
//! this crate, run it with `locust --plugin plugins/websocket`. `request` (send, then wait for
//! the answer) is recorded as `websocket NAME`; connecting as `websocket connect`.
//!
//! ```ignore
//! let socket = locust_websocket::WebSocket::connect("ws://127.0.0.1:9000/chat")?;
//! let answer = socket.request_text("hello", "hello", Some(5.0))?;
//! ```

#[allow(unsafe_code, reason = "the glue wit-bindgen generates")]
mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit", "../wit"],
        world: "locust:websocket/imports",
        generate_all,
    });
}

pub use bindings::locust::websocket::client::Message;
use bindings::locust::websocket::client::Socket;

/// One WebSocket connection, through the plugin.
pub struct WebSocket {
    socket: Socket,
}

impl WebSocket {
    /// Connect to a `ws://` URL.
    pub fn connect(url: &str) -> Result<Self, String> {
        Self::connect_with(url, &[])
    }

    /// Connect with extra handshake headers (cookies, tokens).
    pub fn connect_with(url: &str, headers: &[(String, String)]) -> Result<Self, String> {
        Ok(Self {
            socket: Socket::open(url, headers)?,
        })
    }

    /// Send a message (not recorded).
    pub fn send(&self, message: &Message) -> Result<(), String> {
        self.socket.send(message)
    }

    /// The next message within `timeout` seconds (not recorded); `None` if none came.
    pub fn receive(&self, timeout: Option<f64>) -> Result<Option<Message>, String> {
        self.socket.receive(timeout)
    }

    /// Send `message` and wait for the next one: recorded as `websocket NAME`.
    pub fn request(
        &self,
        message: &Message,
        name: &str,
        timeout: Option<f64>,
    ) -> Result<Message, String> {
        self.socket.request(message, name, timeout)
    }

    /// [`request`](Self::request) with a text message, answered with text.
    pub fn request_text(
        &self,
        text: &str,
        name: &str,
        timeout: Option<f64>,
    ) -> Result<String, String> {
        match self.request(&Message::Text(text.to_owned()), name, timeout)? {
            Message::Text(answer) => Ok(answer),
            Message::Binary(bytes) => Err(format!("a binary answer of {} bytes", bytes.len())),
        }
    }

    /// Close the connection.
    pub fn close(&self) {
        self.socket.close();
    }
}
