//! RESP2, the Redis serialization protocol: commands out as arrays of bulk strings, replies in
//! as one of five types (<https://redis.io/docs/latest/develop/reference/protocol-spec/>).

/// A parsed reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `$-1` or `*-1`.
    Nil,
    /// `+OK`.
    Status(String),
    /// `-ERR ...`.
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$3\r\nfoo`.
    Bulk(Vec<u8>),
    /// `*2\r\n...`, with the bytes it was read from.
    Array(Vec<Value>, Vec<u8>),
}

/// Deepest nesting of arrays accepted from a server.
const MAX_DEPTH: usize = 64;
/// Largest bulk string or array accepted from a server (Redis's own limit is 512 MiB).
const MAX_LENGTH: i64 = 512 << 20;

/// Append `prefix`, `number` in decimal and CRLF to `out`, without allocating.
fn header(out: &mut Vec<u8>, prefix: u8, mut number: usize) {
    out.push(prefix);
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (number % 10) as u8;
        number /= 10;
        if number == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

/// Append `args` to `out` as one command.
pub fn encode_command(out: &mut Vec<u8>, args: &[Vec<u8>]) {
    header(out, b'*', args.len());
    for arg in args {
        header(out, b'$', arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// The first complete reply in `buffer` and how many bytes it took; `None` if more bytes are
/// needed.
pub fn parse(buffer: &[u8]) -> Result<Option<(Value, usize)>, String> {
    parse_at(buffer, 0, 0)
}

fn line(buffer: &[u8], start: usize) -> Option<(&[u8], usize)> {
    let end = buffer[start..]
        .windows(2)
        .position(|pair| pair == b"\r\n")?;
    Some((&buffer[start..start + end], start + end + 2))
}

fn number(text: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| {
            format!(
                "the server sent {:?} where a number belongs",
                String::from_utf8_lossy(text)
            )
        })
}

fn parse_at(buffer: &[u8], start: usize, depth: usize) -> Result<Option<(Value, usize)>, String> {
    if start >= buffer.len() {
        return Ok(None);
    }
    let Some((head, body)) = line(buffer, start + 1) else {
        return Ok(None);
    };
    let text = || String::from_utf8_lossy(head).into_owned();
    let value = match buffer[start] {
        b'+' => (Value::Status(text()), body),
        b'-' => (Value::Error(text()), body),
        b':' => (Value::Integer(number(head)?), body),
        b'$' => match number(head)? {
            -1 => (Value::Nil, body),
            length @ 0..=MAX_LENGTH => {
                let end = body + length as usize;
                if buffer.len() < end + 2 {
                    return Ok(None);
                }
                if &buffer[end..end + 2] != b"\r\n" {
                    return Err("a bulk string from the server does not end in CRLF".to_owned());
                }
                (Value::Bulk(buffer[body..end].to_vec()), end + 2)
            }
            length => return Err(format!("the server sent a bulk string of length {length}")),
        },
        b'*' => match number(head)? {
            -1 => (Value::Nil, body),
            count @ 0..=MAX_LENGTH => {
                if depth >= MAX_DEPTH {
                    return Err(format!("the server nested arrays deeper than {MAX_DEPTH}"));
                }
                let mut elements = Vec::new();
                let mut at = body;
                for _ in 0..count {
                    let Some((element, next)) = parse_at(buffer, at, depth + 1)? else {
                        return Ok(None);
                    };
                    elements.push(element);
                    at = next;
                }
                (Value::Array(elements, buffer[start..at].to_vec()), at)
            }
            count => return Err(format!("the server sent an array of {count} elements")),
        },
        other => {
            return Err(format!(
                "the server sent {:?}, which is not RESP (is it a Redis server?)",
                char::from(other)
            ));
        }
    };
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"SET".to_vec(), b"k".to_vec(), b"v 1".to_vec()]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv 1\r\n");
        let mut long = Vec::new();
        encode_command(&mut long, &[vec![b'x'; 1234], Vec::new()]);
        assert!(long.starts_with(b"*2\r\n$1234\r\nxx"));
        assert!(long.ends_with(b"\r\n$0\r\n\r\n"));
    }

    #[test]
    fn replies_parse_whole_or_ask_for_more() {
        let all = b"+OK\r\n-ERR no\r\n:42\r\n$3\r\nfoo\r\n$-1\r\n*2\r\n$1\r\na\r\n*1\r\n:1\r\n";
        let mut at = 0;
        let mut values = Vec::new();
        while at < all.len() {
            let (value, used) = parse(&all[at..]).expect("valid").expect("complete");
            values.push(value);
            at += used;
        }
        assert_eq!(values[0], Value::Status("OK".into()));
        assert_eq!(values[1], Value::Error("ERR no".into()));
        assert_eq!(values[2], Value::Integer(42));
        assert_eq!(values[3], Value::Bulk(b"foo".to_vec()));
        assert_eq!(values[4], Value::Nil);
        assert!(matches!(&values[5], Value::Array(elements, raw)
            if elements.len() == 2 && raw == b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n"));
        for cut in 1..all.len() {
            if let Ok(Some((_, used))) = parse(&all[..cut]) {
                assert!(used <= cut);
            }
        }
        assert_eq!(parse(b"$3\r\nfo").expect("valid"), None);
        assert!(parse(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse(b"$-2\r\n").is_err());
    }
}
