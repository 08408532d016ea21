//! Keeping strangers on the master port from exhausting the master.
//!
//! The master port listens on a network, and until a peer has sent a valid hello (with the
//! token, when one is set) it is a stranger. A stranger gets little: at most
//! [`MAX_UNADMITTED`] strangers are connected at once (more are closed as they arrive), each
//! must be admitted within [`HANDSHAKE_DEADLINE`] of connecting or its socket is closed, and
//! before admission no gRPC message may be longer than [`MAX_UNADMITTED_FRAME`]: a longer one
//! is refused from its 5-byte length prefix, before any of it is buffered. Admitted workers
//! send and receive messages up to [`MAX_FRAME_BYTES`](super::transport::MAX_FRAME_BYTES).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::transport::MAX_FRAME_BYTES;

/// Strangers connected at once; more are closed as they arrive.
pub const MAX_UNADMITTED: usize = 64;
/// How long a stranger has, from connecting, to be admitted.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(5);
/// The longest message a stranger may send: a hello is a few hundred bytes.
pub const MAX_UNADMITTED_FRAME: usize = 64 << 10;

/// Whether one connection's peer has been admitted; shared by its socket, its request
/// bodies and the master's handler.
#[derive(Debug)]
pub struct Admission {
    admitted: AtomicBool,
    strangers: Arc<AtomicUsize>,
}

impl Admission {
    /// The peer sent a valid hello: lift the stranger limits from its connection.
    pub fn admit(&self) {
        if !self.admitted.swap(true, Ordering::AcqRel) {
            self.strangers.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Whether [`admit`](Self::admit) was called.
    pub fn is_admitted(&self) -> bool {
        self.admitted.load(Ordering::Acquire)
    }

    /// The longest message the peer may send now.
    fn frame_limit(&self) -> usize {
        if self.is_admitted() {
            MAX_FRAME_BYTES
        } else {
            MAX_UNADMITTED_FRAME
        }
    }
}

/// What a request learns about its connection (tonic puts it in the request's extensions).
#[derive(Clone, Debug)]
pub struct PeerInfo {
    /// The peer's address.
    pub remote: Option<SocketAddr>,
    /// Its admission.
    pub admission: Arc<Admission>,
}

/// A connection to the master port, closed at its deadline unless admitted by then.
pub struct GuardedStream {
    inner: TcpStream,
    info: PeerInfo,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Drop for GuardedStream {
    fn drop(&mut self) {
        // A stranger leaving frees its place (admitting it did already, otherwise).
        self.info.admission.admit();
    }
}

impl GuardedStream {
    fn check_deadline(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.info.admission.is_admitted() {
            self.deadline = None;
            return Ok(());
        }
        match self.deadline.as_mut().map(|sleep| sleep.as_mut().poll(cx)) {
            Some(Poll::Ready(())) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no valid hello within the handshake deadline",
            )),
            _ => Ok(()),
        }
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(error) = this.check_deadline(cx) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(error) = this.check_deadline(cx) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for GuardedStream {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        self.info.clone()
    }
}

/// The master port's connections, each guarded; strangers past [`MAX_UNADMITTED`] are closed
/// as soon as they are accepted.
pub struct GuardedIncoming {
    listener: TcpListener,
    strangers: Arc<AtomicUsize>,
}

impl GuardedIncoming {
    /// Guard the connections `listener` accepts.
    pub fn new(listener: TcpListener) -> Self {
        Self {
            listener,
            strangers: Arc::default(),
        }
    }
}

impl tokio_stream::Stream for GuardedIncoming {
    type Item = io::Result<GuardedStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let (stream, remote) = match this.listener.poll_accept(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(error)) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(Ok(accepted)) => accepted,
            };
            if this.strangers.fetch_add(1, Ordering::AcqRel) >= MAX_UNADMITTED {
                this.strangers.fetch_sub(1, Ordering::AcqRel);
                drop(stream); // closed at once: too many strangers already
                continue;
            }
            let _ = stream.set_nodelay(true);
            let admission = Arc::new(Admission {
                admitted: AtomicBool::new(false),
                strangers: this.strangers.clone(),
            });
            return Poll::Ready(Some(Ok(GuardedStream {
                inner: stream,
                info: PeerInfo {
                    remote: Some(remote),
                    admission,
                },
                deadline: Some(Box::pin(tokio::time::sleep(HANDSHAKE_DEADLINE))),
            })));
        }
    }
}

pin_project_lite::pin_project! {
    /// A request body whose gRPC messages may be no longer than the connection's admission
    /// allows: each message's length prefix is checked as it streams past, and a message over
    /// the limit ends the body with an error before its bytes arrive.
    pub struct FrameLimit<B> {
        #[pin]
        inner: B,
        admission: Arc<Admission>,
        header: [u8; 5],
        header_len: usize,
        remaining: usize,
    }
}

impl<B> FrameLimit<B> {
    /// Limit the messages of `inner` as `admission` says.
    pub fn new(inner: B, admission: Arc<Admission>) -> Self {
        Self {
            inner,
            admission,
            header: [0; 5],
            header_len: 0,
            remaining: 0,
        }
    }
}

/// A message over the limit.
#[derive(Debug, thiserror::Error)]
#[error("a message of {length} bytes is over the {limit}-byte limit of the master port")]
pub struct FrameTooLong {
    length: usize,
    limit: usize,
}

/// Walk `data` through the message framing, checking each length prefix against `limit`.
fn check_frames(
    mut data: &[u8],
    header: &mut [u8; 5],
    header_len: &mut usize,
    remaining: &mut usize,
    limit: usize,
) -> Result<(), FrameTooLong> {
    while !data.is_empty() {
        if *remaining > 0 {
            let skip = (*remaining).min(data.len());
            *remaining -= skip;
            data.advance(skip);
            continue;
        }
        header[*header_len] = data[0];
        *header_len += 1;
        data.advance(1);
        if *header_len == header.len() {
            *header_len = 0;
            let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
            if length > limit {
                return Err(FrameTooLong { length, limit });
            }
            *remaining = length;
        }
    }
    Ok(())
}

impl<B> hyper::body::Body for FrameLimit<B>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Data = Bytes;
    type Error = tonic::codegen::StdError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let frame = match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if let Some(data) = frame.data_ref() {
            let limit = this.admission.frame_limit();
            if let Err(too_long) =
                check_frames(data, this.header, this.header_len, this.remaining, limit)
            {
                return Poll::Ready(Some(Err(Box::new(too_long))));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(lengths: &[u32]) -> Vec<u8> {
        let mut out = Vec::new();
        for &length in lengths {
            out.push(0);
            out.extend_from_slice(&length.to_be_bytes());
            out.extend(std::iter::repeat_n(7u8, length as usize));
        }
        out
    }

    /// Feed `bytes` in chunks of `chunk` bytes; the first refusal, if any.
    fn feed(bytes: &[u8], chunk: usize, limit: usize) -> Result<(), FrameTooLong> {
        let (mut header, mut header_len, mut remaining) = ([0u8; 5], 0, 0);
        for piece in bytes.chunks(chunk) {
            check_frames(piece, &mut header, &mut header_len, &mut remaining, limit)?;
        }
        Ok(())
    }

    #[test]
    fn length_prefixes_are_found_across_any_chunking() {
        let ok = framed(&[0, 10, 100, 1000]);
        let over = framed(&[10, 1001, 5]);
        for chunk in [1, 2, 3, 4, 5, 6, 7, 64, 4096] {
            assert!(feed(&ok, chunk, 1000).is_ok(), "chunk {chunk}");
            let refused = feed(&over, chunk, 1000).expect_err("over the limit");
            assert_eq!(
                (refused.length, refused.limit),
                (1001, 1000),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn a_huge_prefix_is_refused_before_its_bytes() {
        let mut header = vec![0u8];
        header.extend_from_slice(&(255u32 << 20).to_be_bytes());
        assert!(feed(&header, 5, MAX_UNADMITTED_FRAME).is_err());
    }
}
