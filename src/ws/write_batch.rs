//! The write side of a chat socket: frames written between two flushes are gathered and go to
//! the connection in one write, and the buffer that gathered them is given back afterwards.
//!
//! tungstenite can batch too, but its buffer keeps the size of the largest batch for the life
//! of the connection: after the presence bursts of joining, 10,000 idle connections held about
//! 100 MB that way. Here tungstenite writes every frame straight through, and a buffer that
//! grew past `KEEP` bytes is freed once it has been written.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Capacity kept after a flush: one typical frame, so a connection that gets a frame now and
/// then does not allocate each time.
const KEEP: usize = 512;
/// Gathered bytes past which a write first waits for the connection to take what is gathered:
/// a client that stops reading holds at most this much here (and its queue holds the rest).
const HIGH_WATER: usize = 64 * 1024;

pub struct WriteBatch<S> {
    inner: S,
    gathered: Vec<u8>,
    /// How much of `gathered` the connection has taken so far.
    sent: usize,
}

impl<S> WriteBatch<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            gathered: Vec::new(),
            sent: 0,
        }
    }

    #[cfg(test)]
    fn kept_capacity(&self) -> usize {
        self.gathered.capacity()
    }
}

impl<S: AsyncWrite + Unpin> WriteBatch<S> {
    /// Writes out everything gathered, then lets a grown buffer go.
    fn poll_send_gathered(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.gathered.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.gathered[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.sent = 0;
        if self.gathered.capacity() > KEEP {
            self.gathered = Vec::new();
        } else {
            self.gathered.clear();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteBatch<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteBatch<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.gathered.len() - self.sent >= HIGH_WATER {
            ready!(self.poll_send_gathered(cx))?;
        }
        self.gathered.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_send_gathered(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_send_gathered(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn frames_reach_the_peer_on_flush_in_order_and_the_buffer_is_let_go() {
        let (near, mut far) = tokio::io::duplex(1 << 20);
        let mut batch = WriteBatch::new(near);
        let frames: Vec<Vec<u8>> = (0..100u8).map(|n| vec![n; 100]).collect();
        for frame in &frames {
            batch.write_all(frame).await.expect("gathered");
        }
        assert!(batch.kept_capacity() >= 100 * 100);
        batch.flush().await.expect("flushed");
        assert_eq!(
            batch.kept_capacity(),
            0,
            "a grown buffer is freed after the flush"
        );

        let mut received = vec![0; 100 * 100];
        far.read_exact(&mut received).await.expect("received");
        assert_eq!(received, frames.concat());

        batch.write_all(b"small").await.expect("gathered");
        batch.flush().await.expect("flushed");
        assert!(
            batch.kept_capacity() <= KEEP,
            "a small buffer is kept for reuse"
        );
        let mut small = [0; 5];
        far.read_exact(&mut small).await.expect("received");
        assert_eq!(&small, b"small");
    }

    #[tokio::test]
    async fn a_peer_that_stops_reading_holds_writes_at_the_high_water_mark() {
        let (near, mut far) = tokio::io::duplex(1024);
        let mut batch = WriteBatch::new(near);
        let chunk = vec![7u8; 16 * 1024];
        let mut accepted = 0;
        loop {
            let write = batch.write(&chunk);
            match tokio::time::timeout(std::time::Duration::from_millis(50), write).await {
                Ok(Ok(n)) => accepted += n,
                Ok(Err(err)) => panic!("write failed: {err}"),
                Err(_) => break,
            }
            assert!(
                accepted <= HIGH_WATER + chunk.len() + 1024,
                "gathered without bound"
            );
        }
        assert!(accepted >= HIGH_WATER);
        // Once the peer reads, everything gathered arrives.
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            far.read_to_end(&mut all).await.expect("read");
            all.len()
        });
        batch.flush().await.expect("flushed");
        batch.shutdown().await.expect("shut down");
        assert_eq!(reader.await.expect("reader"), accepted);
    }
}
