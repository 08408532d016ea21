//! RFC 6455 framing: the opening handshake's key check, and frames (a client masks what it
//! sends; a server must not).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// The GUID RFC 6455 appends to the key.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Largest message accepted from a server.
pub const MAX_MESSAGE: usize = 16 << 20;

/// The `Sec-WebSocket-Accept` a server must answer `key` with.
pub fn accept_for(key: &str) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(GUID.as_bytes());
    BASE64.encode(sha.digest().bytes())
}

/// A 16-byte key, base64, from `seed`.
pub fn key_from(seed: u64) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..].copy_from_slice(
        &seed
            .rotate_left(29)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .to_le_bytes(),
    );
    BASE64.encode(bytes)
}

/// Frame opcodes.
pub mod opcode {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// One frame, masked with `mask`, appended to `out`.
pub fn encode(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode);
    match payload.len() {
        length @ 0..=125 => out.push(0x80 | length as u8),
        length @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(length as u16).to_be_bytes());
        }
        length => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(length as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(
        payload
            .iter()
            .enumerate()
            .map(|(index, byte)| byte ^ mask[index % 4]),
    );
}

/// A frame read from a server.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// The first complete frame in `buffer` and its length in bytes; `None` if more are needed.
pub fn decode(buffer: &[u8]) -> Result<Option<(Frame, usize)>, String> {
    if buffer.len() < 2 {
        return Ok(None);
    }
    let fin = buffer[0] & 0x80 != 0;
    let opcode = buffer[0] & 0x0F;
    if buffer[1] & 0x80 != 0 {
        return Err("the server sent a masked frame".to_owned());
    }
    let (length, header) = match buffer[1] & 0x7F {
        126 if buffer.len() >= 4 => (u64::from(u16::from_be_bytes([buffer[2], buffer[3]])), 4),
        127 if buffer.len() >= 10 => {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&buffer[2..10]);
            (u64::from_be_bytes(bytes), 10)
        }
        126 | 127 => return Ok(None),
        length => (u64::from(length), 2),
    };
    if length > MAX_MESSAGE as u64 {
        return Err(format!(
            "the server sent a frame of {length} bytes, more than 16 MiB"
        ));
    }
    let end = header + length as usize;
    if buffer.len() < end {
        return Ok(None);
    }
    Ok(Some((
        Frame {
            fin,
            opcode,
            payload: buffer[header..end].to_vec(),
        },
        end,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_example_key_is_accepted() {
        assert_eq!(
            accept_for("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(BASE64.decode(key_from(7)).map(|key| key.len()), Ok(16));
    }

    #[test]
    fn frames_round_trip_through_a_mask() {
        let mut out = Vec::new();
        encode(&mut out, opcode::TEXT, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
        // RFC 6455 section 5.7: a masked "Hello".
        assert_eq!(
            out,
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
        let unmasked = [0x81, 0x05, b'H', b'e', b'l', b'l', b'o'];
        assert_eq!(
            decode(&unmasked),
            Ok(Some((
                Frame {
                    fin: true,
                    opcode: opcode::TEXT,
                    payload: b"Hello".to_vec()
                },
                7
            )))
        );
        assert_eq!(decode(&unmasked[..4]), Ok(None));
        assert!(decode(&out).is_err(), "servers do not mask");
        let mut long = vec![0x82, 126, 0x01, 0x00];
        long.extend(std::iter::repeat_n(7u8, 256));
        let (frame, used) = decode(&long).expect("valid").expect("complete");
        assert_eq!((frame.payload.len(), used), (256, 260));
    }
}
