//! A deadline for the headers of each new connection's first request. hyper's own header read
//! timeout is not reachable through poem 3.1, and without one a client holds a connection (and
//! its buffers) for as long as it likes by trickling header bytes (slowloris). Later requests on
//! a kept-alive connection are not timed: a slowloris gains nothing over opening new ones, which
//! this bounds.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Wraps every connection `inner` accepts in a `HeaderDeadline`.
pub struct HeaderDeadlineAcceptor<A> {
    inner: A,
    timeout: Duration,
}

impl<A> HeaderDeadlineAcceptor<A> {
    pub fn new(inner: A, timeout: Duration) -> Self {
        Self { inner, timeout }
    }
}

impl<A: Acceptor> Acceptor for HeaderDeadlineAcceptor<A> {
    type Io = HeaderDeadline<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        Ok((HeaderDeadline::new(io, self.timeout), local, remote, scheme))
    }
}

/// A connection whose reads fail with `TimedOut` if the end of the first request's headers (an
/// empty line) has not arrived by the deadline.
pub struct HeaderDeadline<S> {
    inner: S,
    /// Until the first request's headers are complete.
    waiting: Option<Waiting>,
}

struct Waiting {
    deadline: Pin<Box<Sleep>>,
    /// The last byte that was not `\r` was a `\n`: one more `\n` ends the headers (accepts both
    /// `\r\n\r\n` and bare `\n\n`, as the parser does).
    after_newline: bool,
}

impl Waiting {
    /// Feeds bytes read; true once the headers are complete.
    fn headers_end_in(&mut self, bytes: &[u8]) -> bool {
        for &byte in bytes {
            match byte {
                b'\n' if self.after_newline => return true,
                b'\n' => self.after_newline = true,
                b'\r' => {}
                _ => self.after_newline = false,
            }
        }
        false
    }
}

impl<S> HeaderDeadline<S> {
    fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            waiting: Some(Waiting {
                deadline: Box::pin(tokio::time::sleep(timeout)),
                after_newline: false,
            }),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HeaderDeadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(waiting) = &mut this.waiting {
            if waiting.deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the request headers did not arrive in time",
                )));
            }
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some(waiting)) = (&read, &mut this.waiting) {
            if waiting.headers_end_in(&buf.filled()[before..]) {
                this.waiting = None;
            }
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HeaderDeadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, bytes)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting() -> Waiting {
        Waiting {
            deadline: Box::pin(tokio::time::sleep(Duration::from_secs(60))),
            after_newline: false,
        }
    }

    #[tokio::test]
    async fn the_headers_end_at_the_first_empty_line_however_the_bytes_are_split() {
        let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody\r\n\r\n";
        for split in 0..request.len() {
            let mut w = waiting();
            let (a, b) = request.split_at(split);
            let ended = w.headers_end_in(a) || w.headers_end_in(b);
            assert!(ended, "split at {split}");
        }
        let mut w = waiting();
        assert!(!w.headers_end_in(b"GET / HTTP/1.1\r\nHost: x\r\n"));
        assert!(w.headers_end_in(b"\n"), "a bare newline ends them too");
        let mut w = waiting();
        assert!(!w.headers_end_in(b"GET / HTTP/1.1\r\nX: a\rb\r\n"));
    }
}
