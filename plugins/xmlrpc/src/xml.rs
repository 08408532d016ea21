//! XML-RPC's wire format (<https://xmlrpc.com/spec.md>): a `methodCall` out, a
//! `methodResponse` (params or fault) back.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// A value, as [`crate`]'s WIT `value` carries it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Nil,
    Boolean(bool),
    Int(i64),
    Double(f64),
    String(String),
    Base64(Vec<u8>),
    DateTime(String),
    /// An array or struct, as the XML of its `<value>` element.
    Xml(String),
}

/// What a `methodResponse` says.
#[derive(Debug, PartialEq)]
pub enum Answer {
    Value(Value),
    Fault { code: i64, message: String },
}

fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

fn encode_value(value: &Value, out: &mut String) {
    match value {
        // An array or struct is sent as the caller wrote it.
        Value::Xml(xml) => {
            out.push_str(xml);
            return;
        }
        _ => out.push_str("<value>"),
    }
    match value {
        Value::Nil => out.push_str("<nil/>"),
        Value::Boolean(flag) => {
            out.push_str(if *flag {
                "<boolean>1</boolean>"
            } else {
                "<boolean>0</boolean>"
            });
        }
        Value::Int(number) if i32::try_from(*number).is_ok() => {
            out.push_str(&format!("<int>{number}</int>"));
        }
        Value::Int(number) => out.push_str(&format!("<i8>{number}</i8>")),
        Value::Double(number) => out.push_str(&format!("<double>{number:?}</double>")),
        Value::String(text) => {
            out.push_str("<string>");
            escape(text, out);
            out.push_str("</string>");
        }
        Value::Base64(bytes) => {
            out.push_str("<base64>");
            out.push_str(&BASE64.encode(bytes));
            out.push_str("</base64>");
        }
        Value::DateTime(text) => {
            out.push_str("<dateTime.iso8601>");
            escape(text, out);
            out.push_str("</dateTime.iso8601>");
        }
        Value::Xml(_) => {}
    }
    out.push_str("</value>");
}

/// The `methodCall` body calling `method` with `params`.
pub fn method_call(method: &str, params: &[Value]) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodCall><methodName>");
    escape(method, &mut out);
    out.push_str("</methodName><params>");
    for param in params {
        out.push_str("<param>");
        encode_value(param, &mut out);
        out.push_str("</param>");
    }
    out.push_str("</params></methodCall>\n");
    out
}

fn element<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    name: &str,
) -> Option<roxmltree::Node<'a, 'input>> {
    node.children()
        .find(|child| child.is_element() && child.tag_name().name() == name)
}

fn decode_value(source: &str, value: roxmltree::Node<'_, '_>) -> Result<Value, String> {
    let Some(typed) = value.children().find(roxmltree::Node::is_element) else {
        // No type element: a string.
        return Ok(Value::String(value.text().unwrap_or_default().to_owned()));
    };
    let text = typed.text().unwrap_or_default().trim();
    let number = |text: &str| {
        text.parse::<i64>()
            .map_err(|_| format!("`{text}` is not an XML-RPC int"))
    };
    Ok(match typed.tag_name().name() {
        "nil" => Value::Nil,
        "boolean" => Value::Boolean(text == "1"),
        "int" | "i4" | "i8" => Value::Int(number(text)?),
        "double" => Value::Double(
            text.parse()
                .map_err(|_| format!("`{text}` is not an XML-RPC double"))?,
        ),
        "string" => Value::String(typed.text().unwrap_or_default().to_owned()),
        "base64" => Value::Base64(
            BASE64
                .decode(text.split_whitespace().collect::<String>())
                .map_err(|error| format!("bad base64 in the reply: {error}"))?,
        ),
        "dateTime.iso8601" => Value::DateTime(text.to_owned()),
        "array" | "struct" => Value::Xml(source[value.range()].to_owned()),
        other => return Err(format!("unknown XML-RPC type <{other}>")),
    })
}

/// Read a `methodResponse`.
pub fn method_response(body: &str) -> Result<Answer, String> {
    let document = roxmltree::Document::parse(body)
        .map_err(|error| format!("the reply is not XML: {error}"))?;
    let root = document.root_element();
    if root.tag_name().name() != "methodResponse" {
        return Err(format!(
            "the reply is <{}>, not an XML-RPC methodResponse",
            root.tag_name().name()
        ));
    }
    if let Some(fault) = element(root, "fault") {
        let value = element(fault, "value").ok_or("a fault without a value")?;
        let members = element(value, "struct").ok_or("a fault that is not a struct")?;
        let mut code = 0;
        let mut message = String::new();
        for member in members
            .children()
            .filter(|child| child.has_tag_name("member"))
        {
            let name = element(member, "name").and_then(|name| name.text());
            let Some(value) = element(member, "value") else {
                continue;
            };
            match (name, decode_value(body, value)?) {
                (Some("faultCode"), Value::Int(number)) => code = number,
                (Some("faultString"), Value::String(text)) => message = text,
                _ => {}
            }
        }
        return Ok(Answer::Fault { code, message });
    }
    let value = element(root, "params")
        .and_then(|params| element(params, "param"))
        .and_then(|param| element(param, "value"));
    match value {
        Some(value) => Ok(Answer::Value(decode_value(body, value)?)),
        None => Ok(Answer::Value(Value::Nil)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_encoded_as_xml_rpc() {
        let body = method_call(
            "add<&>",
            &[
                Value::Int(1),
                Value::Int(1 << 40),
                Value::String("a<b".into()),
                Value::Boolean(true),
                Value::Base64(b"hi".to_vec()),
            ],
        );
        assert!(body.contains("<methodName>add&lt;&amp;&gt;</methodName>"));
        assert!(body.contains("<value><int>1</int></value>"));
        assert!(body.contains("<i8>1099511627776</i8>"));
        assert!(body.contains("<string>a&lt;b</string>"));
        assert!(body.contains("<boolean>1</boolean>"));
        assert!(body.contains("<base64>aGk=</base64>"));
    }

    #[test]
    fn answers_and_faults_are_read() {
        let value = "<?xml version='1.0'?>\n<methodResponse><params><param>\n<value><double>1796177841.72671</double></value>\n</param></params></methodResponse>";
        assert_eq!(
            method_response(value),
            Ok(Answer::Value(Value::Double(1796177841.72671)))
        );
        let array = "<methodResponse><params><param><value><array><data><value><i4>1</i4></value></data></array></value></param></params></methodResponse>";
        assert_eq!(
            method_response(array),
            Ok(Answer::Value(Value::Xml(
                "<value><array><data><value><i4>1</i4></value></data></array></value>".into()
            )))
        );
        let fault = "<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>1</int></value></member><member><name>faultString</name><value><string>&lt;class 'Exception'&gt;:method \"x\" is not supported</string></value></member></struct></value></fault></methodResponse>";
        assert_eq!(
            method_response(fault),
            Ok(Answer::Fault {
                code: 1,
                message: "<class 'Exception'>:method \"x\" is not supported".into()
            })
        );
        assert!(method_response("<html/>").is_err());
        assert!(method_response("not xml").is_err());
    }
}
