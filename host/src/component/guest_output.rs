//! A guest's standard output and error, as lines in the host's log under `locust.user` with
//! the user's class and id: what `println!` in Rust or `print` in Python writes, which WASI
//! would otherwise discard.
//!
//! A guest cannot flood the log or forge lines: a line is cut at [`MAX_LINE`] bytes, control
//! characters are escaped, and each user logs at most [`LINES_PER_SECOND`] lines a second
//! (across both streams); the rest are counted, and the count is logged with the next line
//! that gets through.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// The longest line logged; the rest of a longer one is dropped.
pub const MAX_LINE: usize = 1024;
/// Lines one user may log per second.
pub const LINES_PER_SECOND: u32 = 50;

/// Who writes, and how much they may still write this second.
struct Writer {
    class: Arc<str>,
    user: u64,
    second: Option<Instant>,
    lines: u32,
    dropped: u64,
    /// The guest reported a panic: what it writes now is its runtime's dump on the way to the
    /// trap (a stack, an abort notice), which the panic's own line already explains.
    hushed: bool,
}

impl Writer {
    fn log(&mut self, stream: &'static str, line: &[u8]) {
        let now = Instant::now();
        if self
            .second
            .is_none_or(|start| now.duration_since(start).as_secs() >= 1)
        {
            self.second = Some(now);
            self.lines = 0;
        }
        if self.lines >= LINES_PER_SECOND {
            self.dropped += 1;
            return;
        }
        self.lines += 1;
        let text = printable(line);
        let (class, user) = (&*self.class, self.user);
        if self.hushed {
            tracing::debug!(target: "locust.user", class, user, stream, "{text}");
            return;
        }
        if self.dropped > 0 {
            let dropped = std::mem::take(&mut self.dropped);
            tracing::warn!(target: "locust.user", class, user, "{dropped} lines of output dropped (more than {LINES_PER_SECOND} a second)");
        }
        tracing::info!(target: "locust.user", class, user, stream, "{text}");
    }
}

/// `line` as one line of text: invalid UTF-8 replaced, control characters escaped.
fn printable(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let mut out = String::with_capacity(text.len());
    for character in text.trim_end_matches('\r').chars() {
        if character.is_control() {
            out.extend(character.escape_default());
        } else {
            out.push(character);
        }
    }
    out
}

/// A user's standard output or error.
#[derive(Clone)]
pub struct GuestOutput {
    stream: &'static str,
    writer: Arc<Mutex<Writer>>,
}

impl GuestOutput {
    /// Standard output and standard error of user `user` of `class`, sharing one budget.
    pub fn pair(class: Arc<str>, user: u64) -> (Self, Self) {
        let writer = Arc::new(Mutex::new(Writer {
            class,
            user,
            second: None,
            lines: 0,
            dropped: 0,
            hushed: false,
        }));
        (
            Self {
                stream: "stdout",
                writer: writer.clone(),
            },
            Self {
                stream: "stderr",
                writer,
            },
        )
    }

    /// The guest reported a panic: log the rest of its output at debug level only.
    pub fn hush(&self) {
        self.writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .hushed = true;
    }

    fn lines(&self) -> Lines {
        Lines {
            output: self.clone(),
            pending: Vec::new(),
            cut: false,
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.lines())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.lines())
    }
}

/// One stream handle: bytes gathered into lines.
struct Lines {
    output: GuestOutput,
    pending: Vec<u8>,
    /// The current line passed [`MAX_LINE`]: drop the rest of it.
    cut: bool,
}

impl Lines {
    fn take(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match bytes.iter().position(|&byte| byte == b'\n') {
                Some(end) => {
                    self.push(&bytes[..end]);
                    self.emit();
                    self.cut = false;
                    bytes = &bytes[end + 1..];
                }
                None => {
                    self.push(bytes);
                    bytes = &[];
                }
            }
        }
    }

    fn push(&mut self, part: &[u8]) {
        if self.cut {
            return;
        }
        let room = MAX_LINE.saturating_sub(self.pending.len());
        self.pending
            .extend_from_slice(&part[..part.len().min(room)]);
        if part.len() > room {
            self.emit();
            self.cut = true;
        }
    }

    fn emit(&mut self) {
        if self.pending.is_empty() && self.cut {
            return;
        }
        let line = std::mem::take(&mut self.pending);
        self.output
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .log(self.output.stream, &line);
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.emit();
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Lines {
    async fn ready(&mut self) {}
}

impl OutputStream for Lines {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.take(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

impl AsyncWrite for Lines {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().take(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_printable_and_cut() {
        assert_eq!(printable(b"plain"), "plain");
        assert_eq!(printable(b"a\x1b[31mred\r"), "a\\u{1b}[31mred");
        assert_eq!(printable(b"tab\there"), "tab\\there");
        assert_eq!(printable(&[0xff, b'x']), "\u{fffd}x");
    }

    #[test]
    fn long_lines_are_cut_and_the_rest_dropped() {
        let (stdout, _) = GuestOutput::pair(Arc::from("Test"), 1);
        let mut lines = stdout.lines();
        lines.take(&vec![b'x'; MAX_LINE * 3]);
        assert!(
            lines.pending.is_empty() && lines.cut,
            "cut once, the rest skipped"
        );
        lines.take(b"\nnext");
        assert_eq!(lines.pending, b"next", "a new line starts afresh");
    }

    #[test]
    fn a_user_gets_a_budget_of_lines_per_second() {
        let (stdout, stderr) = GuestOutput::pair(Arc::from("Test"), 1);
        let mut out = stdout.lines();
        let mut err = stderr.lines();
        for _ in 0..LINES_PER_SECOND {
            out.take(b"line\n");
            err.take(b"line\n");
        }
        let writer = stdout.writer.lock().expect("writer");
        assert_eq!(writer.lines, LINES_PER_SECOND);
        assert_eq!(
            writer.dropped,
            u64::from(LINES_PER_SECOND),
            "both streams share it"
        );
    }
}
