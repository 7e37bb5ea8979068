//! [`FuturesIo`]: hyper's `Read` + `Write` as a `futures_io` stream (the
//! way back from [`WeftIo`](super::WeftIo)).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use ::hyper::rt::{Read, ReadBuf, Write};
use futures_io::{AsyncRead, AsyncWrite};

/// Adapts anything that implements hyper's [`hyper::rt::Read`] and
/// [`hyper::rt::Write`] to `futures_io::AsyncRead` and `AsyncWrite`.
///
/// Its use: the [`hyper::upgrade::Upgraded`] connection that
/// `hyper::upgrade::on` yields after a `101 Switching Protocols` speaks
/// hyper's traits only; wrapped in `FuturesIo` it can be handed to a
/// futures-io protocol library, such as async-tungstenite for WebSockets.
///
/// - Reads hand the caller's (initialised) buffer to hyper as a
///   [`ReadBuf`], so no unsafe code is needed either way.
/// - `poll_close` is hyper's `poll_shutdown`.
///
/// ```
/// use futures_util::io::{AsyncReadExt, AsyncWriteExt};
/// use weft::hyper::{FuturesIo, WeftIo};
///
/// weft::runtime::Runtime::new().unwrap().block_on(async {
///     let (a, b) = weft::net::UnixStream::pair().unwrap();
///     // Round trip: futures-io -> hyper's traits -> futures-io.
///     let mut a = FuturesIo::new(WeftIo::new(a));
///     let mut b = FuturesIo::new(WeftIo::new(b));
///     a.write_all(b"ping").await.unwrap();
///     let mut buf = [0; 4];
///     b.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"ping");
/// });
/// ```
#[derive(Debug)]
pub struct FuturesIo<T> {
    inner: T,
}

impl<T> FuturesIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> FuturesIo<T> {
        FuturesIo { inner }
    }

    /// The wrapped connection.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The wrapped connection, mutably.
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the connection.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: Read + Unpin> AsyncRead for FuturesIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut read_buf = ReadBuf::new(buf);
        match Pin::new(&mut self.get_mut().inner).poll_read(cx, read_buf.unfilled()) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(read_buf.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: Write + Unpin> AsyncWrite for FuturesIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    /// hyper's `poll_shutdown`: for a socket, shuts down the write side.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
