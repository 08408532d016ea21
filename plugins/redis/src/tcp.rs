//! TCP straight on `wasi:sockets` and `wasi:io` (the `wasip2` crate), not through `std::net`:
//! a blocking read or write is then one host call (`blocking-read`, `blocking-write-and-flush`)
//! instead of wasi-libc's read, subscribe, poll, read again. Measured with `bench/run redis`.

use std::net::{IpAddr, SocketAddr};

use wasip2::io::streams::{InputStream, OutputStream, StreamError};
use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::ip_name_lookup::resolve_addresses;
use wasip2::sockets::network::{
    ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
};
use wasip2::sockets::tcp::TcpSocket;
use wasip2::sockets::tcp_create_socket::create_tcp_socket;

/// Most bytes `blocking-write-and-flush` takes at once.
const WRITE_CHUNK: usize = 4096;
/// Most bytes asked of one read. The host zeroes a buffer of this size for every read, so it
/// stays small: most replies are a few dozen bytes, and a larger one takes more reads.
const READ_CHUNK: u64 = 4096;

/// A connected socket. The streams are its children: declared first, dropped first.
pub struct Tcp {
    input: InputStream,
    output: OutputStream,
    _socket: TcpSocket,
}

fn socket_address(ip: IpAddr, port: u16) -> (IpAddressFamily, IpSocketAddress) {
    match ip {
        IpAddr::V4(ip) => {
            let [a, b, c, d] = ip.octets();
            (
                IpAddressFamily::Ipv4,
                IpSocketAddress::Ipv4(Ipv4SocketAddress {
                    port,
                    address: (a, b, c, d),
                }),
            )
        }
        IpAddr::V6(ip) => {
            let [a, b, c, d, e, f, g, h] = ip.segments();
            (
                IpAddressFamily::Ipv6,
                IpSocketAddress::Ipv6(Ipv6SocketAddress {
                    port,
                    flow_info: 0,
                    address: (a, b, c, d, e, f, g, h),
                    scope_id: 0,
                }),
            )
        }
    }
}

fn ip_of(address: IpAddress) -> IpAddr {
    match address {
        IpAddress::Ipv4((a, b, c, d)) => IpAddr::from([a, b, c, d]),
        IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => IpAddr::from([a, b, c, d, e, f, g, h]),
    }
}

/// Why connecting to `address` failed, naming `--allow-host` when the host refused it.
fn refused(address: &str, code: ErrorCode) -> String {
    match code {
        ErrorCode::AccessDenied => format!(
            "could not connect to {address}: it is not a host this test may reach; grant it \
             with --allow-host {address}"
        ),
        other => format!("could not connect to {address}: {}", other.message()),
    }
}

impl Tcp {
    /// Connect to `address` (`host:port`, `[v6]:port`); a name is looked up (the host answers
    /// from the run's grants).
    pub fn connect(address: &str) -> Result<Self, String> {
        let network = instance_network();
        let ips: Vec<(IpAddr, u16)> = match address.parse::<SocketAddr>() {
            Ok(socket) => vec![(socket.ip(), socket.port())],
            Err(_) => {
                let (host, port) = address
                    .rsplit_once(':')
                    .ok_or_else(|| format!("{address} has no port"))?;
                let port: u16 = port
                    .parse()
                    .map_err(|_| format!("{address}: `{port}` is not a port"))?;
                let stream =
                    resolve_addresses(&network, host).map_err(|code| refused(address, code))?;
                let mut ips = Vec::new();
                loop {
                    match stream.resolve_next_address() {
                        Ok(Some(ip)) => ips.push((ip_of(ip), port)),
                        Ok(None) => break,
                        Err(ErrorCode::WouldBlock) => stream.subscribe().block(),
                        Err(code) => return Err(refused(address, code)),
                    }
                }
                ips
            }
        };
        let mut last = format!("{address} resolves to no address");
        for (ip, port) in ips {
            let (family, remote) = socket_address(ip, port);
            let socket = create_tcp_socket(family).map_err(|code| refused(address, code))?;
            if let Err(code) = socket.start_connect(&network, remote) {
                last = refused(address, code);
                continue;
            }
            loop {
                match socket.finish_connect() {
                    Ok((input, output)) => {
                        return Ok(Self {
                            input,
                            output,
                            _socket: socket,
                        });
                    }
                    Err(ErrorCode::WouldBlock) => socket.subscribe().block(),
                    Err(code) => {
                        last = refused(address, code);
                        break;
                    }
                }
            }
        }
        Err(last)
    }

    /// Write all of `bytes`.
    pub fn write_all(&self, bytes: &[u8]) -> Result<(), String> {
        for chunk in bytes.chunks(WRITE_CHUNK) {
            self.output
                .blocking_write_and_flush(chunk)
                .map_err(|error| format!("writing to the server failed: {}", describe(error)))?;
        }
        Ok(())
    }

    /// Wait for bytes and append them to `into`; an error when the server closed.
    pub fn read_into(&self, into: &mut Vec<u8>) -> Result<(), String> {
        match self.input.blocking_read(READ_CHUNK) {
            Ok(bytes) => {
                into.extend_from_slice(&bytes);
                Ok(())
            }
            Err(StreamError::Closed) => Err("the server closed the connection".to_owned()),
            Err(error) => Err(format!(
                "reading from the server failed: {}",
                describe(error)
            )),
        }
    }
}

fn describe(error: StreamError) -> String {
    match error {
        StreamError::Closed => "the connection is closed".to_owned(),
        StreamError::LastOperationFailed(error) => error.to_debug_string(),
    }
}
