//! XML-RPC for Rust user components, served by the xmlrpc plugin: build the user with this
//! crate, run it with `locust --plugin plugins/xmlrpc`. Every call is timed by the host and
//! recorded as `xmlrpc METHOD`; a fault is a failure.
//!
//! ```ignore
//! let server = locust_xmlrpc::XmlRpc::new("/RPC2");
//! let now = server.call("get_time", &[])?;
//! ```

#[allow(unsafe_code, reason = "the glue wit-bindgen generates")]
mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit", "../wit"],
        world: "locust:xmlrpc/imports",
        generate_all,
    });
}

pub use bindings::locust::xmlrpc::client::{CallError, Fault, Value};

/// An XML-RPC server at one URL (a path on the user's host, or an absolute URL).
pub struct XmlRpc {
    url: String,
}

impl XmlRpc {
    /// The server at `url`: `/` or `/RPC2` on the user's host, or an absolute URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into() }
    }

    /// Call `method` with `params`.
    pub fn call(&self, method: &str, params: &[Value]) -> Result<Value, CallError> {
        bindings::locust::xmlrpc::client::call(&self.url, method, params)
    }
}

/// One line saying why a call failed.
pub fn message(error: &CallError) -> String {
    match error {
        CallError::Fault(fault) => format!("Fault {}: {}", fault.code, fault.message),
        CallError::Transport(message) => message.clone(),
    }
}
