//! The xmlrpc protocol plugin: XML-RPC calls for simulated users in any language, carried by
//! the host's HTTP client.
//!
//! Each call is an `http.send-as` POST recorded under type `xmlrpc` and the method's name, so
//! the host times it (to the end of the body), reuses the user's kept-alive connection and
//! applies the run's grants; the plugin only encodes the call, reads the answer and gives the
//! host its verdict (`http.resolve`): a fault or an unreadable answer is a failure.

mod xml;

#[allow(unsafe_code, reason = "the glue wit-bindgen generates")]
mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit", "wit"],
        world: "locust:xmlrpc/plugin",
        generate_all,
    });

    use super::Plugin;
    export!(Plugin);
}

use bindings::exports::locust::runtime::plugin::{self, PluginInfo};
use bindings::exports::locust::xmlrpc::client::{self, CallError, Fault, Value};
use bindings::locust::runtime::http::{self, Request, Verdict};
use xml::Answer;

struct Plugin;

impl plugin::Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "xmlrpc".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            options: Vec::new(),
        }
    }
}

fn to_wire(value: Value) -> xml::Value {
    match value {
        Value::Nil => xml::Value::Nil,
        Value::Boolean(flag) => xml::Value::Boolean(flag),
        Value::Int(number) => xml::Value::Int(number),
        Value::Double(number) => xml::Value::Double(number),
        Value::String(text) => xml::Value::String(text),
        Value::Base64(bytes) => xml::Value::Base64(bytes),
        Value::DateTime(text) => xml::Value::DateTime(text),
        Value::Xml(text) => xml::Value::Xml(text),
    }
}

fn from_wire(value: xml::Value) -> Value {
    match value {
        xml::Value::Nil => Value::Nil,
        xml::Value::Boolean(flag) => Value::Boolean(flag),
        xml::Value::Int(number) => Value::Int(number),
        xml::Value::Double(number) => Value::Double(number),
        xml::Value::String(text) => Value::String(text),
        xml::Value::Base64(bytes) => Value::Base64(bytes),
        xml::Value::DateTime(text) => Value::DateTime(text),
        xml::Value::Xml(text) => Value::Xml(text),
    }
}

impl client::Guest for Plugin {
    fn call(url: String, method: String, params: Vec<Value>) -> Result<Value, CallError> {
        let params: Vec<xml::Value> = params.into_iter().map(to_wire).collect();
        let request = Request {
            method: "POST".to_owned(),
            url,
            headers: vec![("content-type".to_owned(), "text/xml".to_owned())],
            query: Vec::new(),
            body: Some(xml::method_call(&method, &params).into_bytes()),
            json: None,
            basic_auth: None,
            timeout: None,
            allow_redirects: true,
            name: Some(method),
            catch_response: true,
            max_response_size: None,
        };
        let response = http::send_as(&request, "xmlrpc");
        if let Some(error) = response.error {
            http::resolve(response.id, &Verdict::ByStatus);
            return Err(CallError::Transport(error));
        }
        let body = response.data.body();
        let answer = String::from_utf8(body)
            .map_err(|_| "the reply is not UTF-8 text".to_owned())
            .and_then(|text| xml::method_response(&text));
        match answer {
            Ok(Answer::Value(value)) => {
                http::resolve(response.id, &Verdict::Success);
                Ok(from_wire(value))
            }
            Ok(Answer::Fault { code, message }) => {
                http::resolve(
                    response.id,
                    &Verdict::Failure(format!("Fault {code}: {message}")),
                );
                Err(CallError::Fault(Fault { code, message }))
            }
            Err(error) => {
                http::resolve(response.id, &Verdict::Failure(error.clone()));
                Err(CallError::Transport(error))
            }
        }
    }
}
