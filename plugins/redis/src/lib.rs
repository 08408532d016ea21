//! The redis protocol plugin: Redis over TCP (RESP2) for simulated users in any language.
//!
//! `locust --plugin plugins/redis` links it into the user component; a user importing
//! `locust:redis/client` then opens connections and sends commands, each timed here and
//! recorded through the host's `events.request` under type `redis`, so the statistics show
//! `redis GET`, `redis SET` beside the HTTP rows. TCP goes through `wasi:sockets`, which the host
//! opens only to the run's granted hosts (`--host redis://...`, `--allow-host`).

mod resp;
mod tcp;

use std::cell::RefCell;
use std::time::Instant;

#[allow(unsafe_code, reason = "the glue wit-bindgen generates")]
mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit", "wit"],
        world: "locust:redis/plugin",
        // The host's interfaces (locust:runtime) are bound here too: a plugin does not use the
        // SDK, whose world exports a user.
        generate_all,
    });

    use super::Plugin;
    export!(Plugin);
}

use bindings::exports::locust::redis::client::{self, GuestConnection, Reply};
use bindings::exports::locust::runtime::plugin::{self, PluginInfo};
use bindings::locust::runtime::context;
use bindings::locust::runtime::events;
use bindings::locust::runtime::types::{OptionSpec, RequestRecord};
use resp::Value;

/// The option naming the database to `SELECT` after connecting.
const DATABASE_OPTION: &str = "redis-database";
/// Redis's port when an address names none.
const DEFAULT_PORT: u16 = 6379;

struct Plugin;

impl plugin::Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "redis".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            options: vec![OptionSpec {
                name: DATABASE_OPTION.to_owned(),
                default: None,
                help: "Redis database number each connection SELECTs after connecting".to_owned(),
            }],
        }
    }
}

impl client::Guest for Plugin {
    type Connection = Connection;
}

/// `host:port` of `address` (`host:port`, `host`, or `redis://host[:port][/...]`).
fn socket_address(address: &str) -> Result<String, String> {
    let rest = address.strip_prefix("redis://").unwrap_or(address);
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("no host in redis address {address:?}"));
    }
    let has_port = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.contains("]:"),
        None => authority.contains(':'),
    };
    Ok(if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:{DEFAULT_PORT}")
    })
}

fn record(name: String, started: Instant, length: u64, error: Option<String>) {
    events::request(&RequestRecord {
        request_type: "redis".to_owned(),
        name,
        response_time_ms: started.elapsed().as_secs_f64() * 1000.0,
        response_length: length,
        error,
    });
}

/// An open TCP connection, the bytes read from it but not parsed yet, and the buffer commands
/// are encoded into (kept, so that a command allocates nothing for its encoding).
struct Stream {
    tcp: tcp::Tcp,
    unread: Vec<u8>,
    out: Vec<u8>,
}

impl Stream {
    /// Read one reply; with the number of bytes it took.
    fn read_reply(&mut self) -> Result<(Value, usize), String> {
        loop {
            if let Some((value, used)) = resp::parse(&self.unread)? {
                self.unread.drain(..used);
                return Ok((value, used));
            }
            self.tcp.read_into(&mut self.unread)?;
        }
    }

    /// Send `commands` and read one reply for each.
    fn exchange(&mut self, commands: &[Vec<Vec<u8>>]) -> Result<(Vec<Value>, u64), String> {
        self.out.clear();
        for command in commands {
            resp::encode_command(&mut self.out, command);
        }
        self.tcp.write_all(&self.out)?;
        let mut replies = Vec::with_capacity(commands.len());
        let mut length = 0;
        for _ in commands {
            let (value, used) = self.read_reply()?;
            replies.push(value);
            length += used as u64;
        }
        Ok((replies, length))
    }
}

/// A user's connection: reconnected on the next command after an I/O error.
pub struct Connection {
    address: String,
    stream: RefCell<Option<Stream>>,
}

impl Connection {
    /// Connect (recorded as `connect`) and select the configured database.
    fn connect(&self) -> Result<(), String> {
        let started = Instant::now();
        let connected = tcp::Tcp::connect(&self.address);
        record(
            "connect".to_owned(),
            started,
            0,
            connected.as_ref().err().cloned(),
        );
        let tcp = connected?;
        *self.stream.borrow_mut() = Some(Stream {
            tcp,
            unread: Vec::new(),
            out: Vec::new(),
        });
        if let Some(database) = context::get_option(DATABASE_OPTION) {
            let reply = self.send(
                &[vec![b"SELECT".to_vec(), database.into_bytes()]],
                "SELECT".to_owned(),
            )?;
            if let [Reply::Error(message)] = reply.as_slice() {
                return Err(format!("SELECT failed: {message}"));
            }
        }
        Ok(())
    }

    /// Send `commands` in one round trip, recorded once under `name`.
    fn send(&self, commands: &[Vec<Vec<u8>>], name: String) -> Result<Vec<Reply>, String> {
        if commands.is_empty() || commands.iter().any(Vec::is_empty) {
            return Err("a command needs at least its name, e.g. [\"PING\"]".to_owned());
        }
        if self.stream.borrow().is_none() {
            self.connect()?;
        }
        let started = Instant::now();
        let mut slot = self.stream.borrow_mut();
        let Some(stream) = slot.as_mut() else {
            return Err("not connected".to_owned());
        };
        match stream.exchange(commands) {
            Ok((values, length)) => {
                let error = values.iter().find_map(|value| match value {
                    Value::Error(message) => Some(message.clone()),
                    _ => None,
                });
                record(name, started, length, error);
                Ok(values.into_iter().map(reply).collect())
            }
            Err(error) => {
                // The connection is in an unknown state: the next command reconnects.
                *slot = None;
                record(name, started, 0, Some(error.clone()));
                Err(error)
            }
        }
    }
}

/// The WIT form of a parsed reply.
fn reply(value: Value) -> Reply {
    match value {
        Value::Nil => Reply::Nil,
        Value::Status(text) => Reply::Status(text),
        Value::Error(text) => Reply::Error(text),
        Value::Integer(number) => Reply::Integer(number),
        Value::Bulk(bytes) => Reply::Bulk(bytes),
        Value::Array(elements, raw) => {
            let flat: Option<Vec<Option<Vec<u8>>>> = elements
                .into_iter()
                .map(|element| match element {
                    Value::Bulk(bytes) => Some(Some(bytes)),
                    Value::Nil => Some(None),
                    _ => None,
                })
                .collect();
            match flat {
                Some(items) => Reply::Array(items),
                None => Reply::Raw(raw),
            }
        }
    }
}

/// The command's word in upper case, for its statistics name.
fn command_name(args: &[Vec<u8>]) -> String {
    args.first()
        .map(|word| String::from_utf8_lossy(word).to_ascii_uppercase())
        .unwrap_or_default()
}

impl GuestConnection for Connection {
    fn open(address: String) -> Result<client::Connection, String> {
        let connection = Connection {
            address: socket_address(&address)?,
            stream: RefCell::new(None),
        };
        connection.connect()?;
        Ok(client::Connection::new(connection))
    }

    fn command(&self, args: Vec<Vec<u8>>, name: Option<String>) -> Result<Reply, String> {
        let name = name.unwrap_or_else(|| command_name(&args));
        let mut replies = self.send(std::slice::from_ref(&args), name)?;
        replies.pop().ok_or_else(|| "no reply".to_owned())
    }

    fn pipeline(
        &self,
        commands: Vec<Vec<Vec<u8>>>,
        name: Option<String>,
    ) -> Result<Vec<Reply>, String> {
        let name = name.unwrap_or_else(|| "PIPELINE".to_owned());
        self.send(&commands, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_default_to_the_redis_port() {
        assert_eq!(
            socket_address("127.0.0.1:7000").as_deref(),
            Ok("127.0.0.1:7000")
        );
        assert_eq!(socket_address("redis://cache").as_deref(), Ok("cache:6379"));
        assert_eq!(
            socket_address("redis://u:p@cache:1/0").as_deref(),
            Ok("cache:1")
        );
        assert_eq!(socket_address("[::1]").as_deref(), Ok("[::1]:6379"));
        assert_eq!(socket_address("[::1]:7").as_deref(), Ok("[::1]:7"));
        assert!(socket_address("redis://").is_err());
    }
}
