//! The websocket protocol plugin: `ws://` connections for simulated users in any language.
//!
//! The opening handshake and RFC 6455 framing over `wasi:sockets` TCP (granted hosts only).
//! `request` (send, then wait for the next message) is the timed operation, recorded as
//! `websocket NAME`; `open` is recorded as `websocket connect`. Pings from the server are
//! answered while waiting. `wss://` needs TLS, which guests do not have yet.

mod frame;

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[allow(unsafe_code, reason = "the glue wit-bindgen generates")]
mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit", "wit"],
        world: "locust:websocket/plugin",
        generate_all,
    });

    use super::Plugin;
    export!(Plugin);
}

use bindings::exports::locust::runtime::plugin::{self, PluginInfo};
use bindings::exports::locust::websocket::client::{self, GuestSocket, Message};
use bindings::locust::runtime::context;
use bindings::locust::runtime::events;
use bindings::locust::runtime::types::RequestRecord;
use frame::opcode;

/// Largest handshake answer accepted.
const MAX_HANDSHAKE: usize = 16 << 10;

struct Plugin;

impl plugin::Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "websocket".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            options: Vec::new(),
        }
    }
}

impl client::Guest for Plugin {
    type Socket = Socket;
}

fn record(name: &str, started: Instant, length: u64, error: Option<String>) {
    events::request(&RequestRecord {
        request_type: "websocket".to_owned(),
        name: name.to_owned(),
        response_time_ms: started.elapsed().as_secs_f64() * 1000.0,
        response_length: length,
        error,
    });
}

/// Host, `host:port` and path of a `ws://` URL.
fn parse_url(url: &str) -> Result<(String, String, String), String> {
    let rest = url.strip_prefix("ws://").ok_or_else(|| {
        if url.starts_with("wss://") {
            format!("{url}: wss:// is not supported yet (guests have no TLS); use ws://")
        } else {
            format!("{url} is not a ws:// URL")
        }
    })?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("no host in {url}"));
    }
    let has_port = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.contains("]:"),
        None => authority.contains(':'),
    };
    let address = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((authority.to_owned(), address, path.to_owned()))
}

struct Connection {
    tcp: TcpStream,
    unread: Vec<u8>,
    mask_state: u64,
}

impl Connection {
    fn mask(&mut self) -> [u8; 4] {
        // xorshift: masks need not be secret, only not predictable by the page.
        self.mask_state ^= self.mask_state << 13;
        self.mask_state ^= self.mask_state >> 7;
        self.mask_state ^= self.mask_state << 17;
        (self.mask_state as u32).to_le_bytes()
    }

    fn write_frame(&mut self, opcode: u8, payload: &[u8]) -> Result<(), String> {
        let mut out = Vec::with_capacity(payload.len() + 14);
        let mask = self.mask();
        frame::encode(&mut out, opcode, payload, mask);
        self.tcp
            .write_all(&out)
            .map_err(|error| format!("sending failed: {error}"))
    }

    /// The next data message; `None` if `timeout` ran out first.
    fn read_message(&mut self, timeout: Option<Duration>) -> Result<Option<Message>, String> {
        let deadline = timeout.map(|limit| Instant::now() + limit);
        let mut parts: Option<(u8, Vec<u8>)> = None;
        let mut chunk = [0u8; 4096];
        loop {
            while let Some((frame, used)) = frame::decode(&self.unread)? {
                self.unread.drain(..used);
                match frame.opcode {
                    opcode::PING => self.write_frame(opcode::PONG, &frame.payload)?,
                    opcode::PONG => {}
                    opcode::CLOSE => {
                        let _ = self.write_frame(opcode::CLOSE, &frame.payload);
                        let code = frame
                            .payload
                            .get(..2)
                            .map(|code| u16::from_be_bytes([code[0], code[1]]));
                        return Err(match code {
                            Some(code) => format!("the server closed the connection ({code})"),
                            None => "the server closed the connection".to_owned(),
                        });
                    }
                    opcode::TEXT | opcode::BINARY | opcode::CONTINUATION => {
                        let (kind, mut payload) = match (parts.take(), frame.opcode) {
                            (None, opcode::CONTINUATION) => {
                                return Err("the server continued no message".to_owned());
                            }
                            (None, kind) => (kind, Vec::new()),
                            (Some(started), opcode::CONTINUATION) => started,
                            (Some(_), _) => {
                                return Err("the server interleaved two messages".to_owned());
                            }
                        };
                        payload.extend_from_slice(&frame.payload);
                        if payload.len() > frame::MAX_MESSAGE {
                            return Err("the server sent a message over 16 MiB".to_owned());
                        }
                        if !frame.fin {
                            parts = Some((kind, payload));
                            continue;
                        }
                        return Ok(Some(match kind {
                            opcode::TEXT => {
                                Message::Text(String::from_utf8(payload).map_err(|_| {
                                    "the server sent a text message that is not UTF-8".to_owned()
                                })?)
                            }
                            _ => Message::Binary(payload),
                        }));
                    }
                    other => return Err(format!("the server sent unknown opcode {other}")),
                }
            }
            let left = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    Some(left)
                }
                None => None,
            };
            let _ = self.tcp.set_read_timeout(left);
            match self.tcp.read(&mut chunk) {
                Ok(0) => return Err("the server closed the connection".to_owned()),
                Ok(read) => self.unread.extend_from_slice(&chunk[..read]),
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return Ok(None);
                }
                Err(error) => return Err(format!("receiving failed: {error}")),
            }
        }
    }
}

fn payload_of(message: &Message) -> (u8, &[u8]) {
    match message {
        Message::Text(text) => (opcode::TEXT, text.as_bytes()),
        Message::Binary(bytes) => (opcode::BINARY, bytes),
    }
}

fn length_of(message: &Message) -> u64 {
    payload_of(message).1.len() as u64
}

/// Connect and upgrade to a WebSocket.
fn handshake(url: &str, headers: &[(String, String)]) -> Result<Connection, String> {
    let (authority, address, path) = parse_url(url)?;
    let mut tcp = TcpStream::connect(&address).map_err(|error| match error.kind() {
        ErrorKind::PermissionDenied => format!(
            "could not connect to {address}: it is not a host this test may reach; grant it \
             with --allow-host {address}"
        ),
        _ => format!("could not connect to {address}: {error}"),
    })?;
    let _ = tcp.set_nodelay(true);
    let seed = context::random_seed() ^ context::user_id().rotate_left(32);
    let key = frame::key_from(seed);
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes())
        .map_err(|error| format!("sending the handshake failed: {error}"))?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(end) = answer.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
        if answer.len() > MAX_HANDSHAKE {
            return Err("the handshake answer is over 16 KiB".to_owned());
        }
        let read = tcp
            .read(&mut chunk)
            .map_err(|error| format!("reading the handshake failed: {error}"))?;
        if read == 0 {
            return Err("the server closed the connection during the handshake".to_owned());
        }
        answer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&answer[..end]).into_owned();
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("101") {
        return Err(format!("the server did not switch protocols: {status}"));
    }
    let accepted = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-accept")
            .then(|| value.trim().to_owned())
    });
    if accepted.as_deref() != Some(frame::accept_for(&key).as_str()) {
        return Err("the server's Sec-WebSocket-Accept does not match the key".to_owned());
    }
    Ok(Connection {
        tcp,
        unread: answer[end..].to_vec(),
        mask_state: seed | 1,
    })
}

/// A user's WebSocket.
pub struct Socket {
    connection: RefCell<Option<Connection>>,
}

impl Socket {
    fn with<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, String>,
    ) -> Result<T, String> {
        let mut slot = self.connection.borrow_mut();
        let connection = slot.as_mut().ok_or("the connection is closed")?;
        let result = work(connection);
        if result.is_err() {
            // Broken or closed: later calls fail at once.
            *slot = None;
        }
        result
    }
}

fn seconds(timeout: Option<f64>) -> Result<Option<Duration>, String> {
    timeout
        .map(|seconds| {
            Duration::try_from_secs_f64(seconds).map_err(|_| format!("invalid timeout {seconds}"))
        })
        .transpose()
}

impl GuestSocket for Socket {
    fn open(url: String, headers: Vec<(String, String)>) -> Result<client::Socket, String> {
        let started = Instant::now();
        let connected = handshake(&url, &headers);
        record("connect", started, 0, connected.as_ref().err().cloned());
        Ok(client::Socket::new(Socket {
            connection: RefCell::new(Some(connected?)),
        }))
    }

    fn send(&self, message: Message) -> Result<(), String> {
        let (kind, payload) = payload_of(&message);
        self.with(|connection| connection.write_frame(kind, payload))
    }

    fn receive(&self, timeout: Option<f64>) -> Result<Option<Message>, String> {
        let timeout = seconds(timeout)?;
        self.with(|connection| connection.read_message(timeout))
    }

    fn request(
        &self,
        message: Message,
        name: String,
        timeout: Option<f64>,
    ) -> Result<Message, String> {
        let limit = seconds(timeout)?;
        let started = Instant::now();
        let (kind, payload) = payload_of(&message);
        let answer = self.with(|connection| {
            connection.write_frame(kind, payload)?;
            connection.read_message(limit)
        });
        match answer {
            Ok(Some(answer)) => {
                record(&name, started, length_of(&answer), None);
                Ok(answer)
            }
            Ok(None) => {
                let error = format!(
                    "no answer within {:.3}s",
                    limit.unwrap_or_default().as_secs_f64()
                );
                record(&name, started, 0, Some(error.clone()));
                Err(error)
            }
            Err(error) => {
                record(&name, started, 0, Some(error.clone()));
                Err(error)
            }
        }
    }

    fn close(&self) {
        if let Some(mut connection) = self.connection.borrow_mut().take() {
            let _ = connection.write_frame(opcode::CLOSE, &1000u16.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_host_address_and_path() {
        assert_eq!(
            parse_url("ws://127.0.0.1:9000/chat?x=1"),
            Ok((
                "127.0.0.1:9000".into(),
                "127.0.0.1:9000".into(),
                "/chat?x=1".into()
            ))
        );
        assert_eq!(
            parse_url("ws://example.com"),
            Ok(("example.com".into(), "example.com:80".into(), "/".into()))
        );
        assert!(parse_url("wss://example.com").is_err_and(|error| error.contains("not supported")));
        assert!(parse_url("http://example.com").is_err());
    }
}
