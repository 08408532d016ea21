//! Redis for Rust user components, served by the redis plugin: build the user with this crate,
//! run it with `locust --plugin plugins/redis`. Every command is timed and recorded by the
//! plugin (`redis GET`, `redis SET`, ...).
//!
//! ```ignore
//! let redis = locust_redis::Redis::connect_to_host()?;   // --host redis://127.0.0.1:6379
//! redis.command(["SET", "greeting", "hello"])?;
//! assert_eq!(redis.get("greeting")?, Some(b"hello".to_vec()));
//! ```

#[allow(unsafe_code, reason = "the glue wit-bindgen generates")]
mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit", "../wit"],
        world: "locust:redis/imports",
        generate_all,
    });
}

use bindings::locust::redis::client::Connection;
pub use bindings::locust::redis::client::Reply;

/// A connection to a Redis server, through the plugin.
pub struct Redis {
    connection: Connection,
}

impl Redis {
    /// Connect to `address`: `host:port`, or a `redis://host[:port]` URL.
    pub fn connect(address: &str) -> Result<Self, String> {
        Ok(Self {
            connection: Connection::open(address)?,
        })
    }

    /// Connect to the user's host (`--host redis://...`, or the class's).
    pub fn connect_to_host() -> Result<Self, String> {
        let host =
            locust_sdk::host().ok_or("no host to connect to: pass --host redis://HOST:PORT")?;
        Self::connect(&host)
    }

    /// Send one command, recorded under its first word (`SET`). An error reply is returned as
    /// [`Reply::Error`] (and recorded as a failure).
    pub fn command<A: AsRef<[u8]>>(
        &self,
        args: impl IntoIterator<Item = A>,
    ) -> Result<Reply, String> {
        self.connection.command(&to_args(args), None)
    }

    /// [`command`](Self::command), recorded under `name`.
    pub fn named<A: AsRef<[u8]>>(
        &self,
        name: &str,
        args: impl IntoIterator<Item = A>,
    ) -> Result<Reply, String> {
        self.connection.command(&to_args(args), Some(name))
    }

    /// Send several commands in one round trip; recorded once, as `PIPELINE` or `name`.
    pub fn pipeline<C, A>(&self, commands: C, name: Option<&str>) -> Result<Vec<Reply>, String>
    where
        C: IntoIterator,
        C::Item: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        let commands: Vec<Vec<Vec<u8>>> = commands.into_iter().map(to_args).collect();
        self.connection.pipeline(&commands, name)
    }

    /// `GET key`: the value, or `None` if the key is missing.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, String> {
        match self.command([b"GET".as_slice(), key.as_ref()])? {
            Reply::Bulk(value) => Ok(Some(value)),
            Reply::Nil => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// `SET key value`.
    pub fn set(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<(), String> {
        match self.command([b"SET".as_slice(), key.as_ref(), value.as_ref()])? {
            Reply::Status(_) => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

fn to_args<A: AsRef<[u8]>>(args: impl IntoIterator<Item = A>) -> Vec<Vec<u8>> {
    args.into_iter().map(|arg| arg.as_ref().to_vec()).collect()
}

fn unexpected(reply: Reply) -> String {
    match reply {
        Reply::Error(message) => message,
        other => format!("unexpected reply {other:?}"),
    }
}
