//! [`WeftIo`]: a `futures_io` stream as hyper's `Read` + `Write`.

#[cfg(unix)]
use std::any::Any;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use ::hyper::rt::ReadBufCursor;
use futures_io::{AsyncRead, AsyncWrite};

/// Largest part of hyper's read buffer that one read zero-fills and offers
/// to the stream (hyper's buffer may grow to hundreds of KiB; one socket
/// read rarely returns more than this).
const MAX_READ: usize = 64 * 1024;

/// Adapts a `futures_io` stream (weft's [`crate::net::TcpStream`],
/// [`crate::net::UnixStream`], or any `AsyncRead + AsyncWrite + Unpin`) to
/// hyper's [`hyper::rt::Read`] and [`hyper::rt::Write`].
///
/// - For weft's own [`TcpStream`](crate::net::TcpStream) and
///   [`UnixStream`](crate::net::UnixStream) (on Unix), reads go straight
///   from read(2) into the unfilled part of hyper's buffer, which is never
///   zeroed. Any other stream's reads zero-fill the part of hyper's buffer
///   they offer (at most 64 KiB) and hand it to `poll_read` as an ordinary
///   `&mut [u8]`, so no uninitialised memory ever reaches that stream.
/// - Vectored writes go to `poll_write_vectored` (weft's sockets do real
///   `writev`), and [`WeftIo::new`] tells hyper so; for a stream whose
///   vectored write only writes the first buffer (futures-io's default),
///   use [`WeftIo::with_write_vectored`]`(io, false)` and hyper flattens its
///   buffers instead.
/// - `poll_shutdown` is `poll_close` (for a socket: shut down writing, the
///   peer reads end-of-file).
///
/// It also implements `futures_io::AsyncRead + AsyncWrite` itself, by
/// forwarding, so a stream hyper hands back after an upgrade can still be
/// used as a plain stream.
#[derive(Debug)]
pub struct WeftIo<T> {
    inner: T,
    write_vectored: bool,
}

impl<T> WeftIo<T> {
    /// Wraps `inner`, telling hyper that its vectored writes are real.
    pub fn new(inner: T) -> WeftIo<T> {
        WeftIo { inner, write_vectored: true }
    }

    /// Wraps `inner`, saying whether its `poll_write_vectored` writes more
    /// than the first buffer (`false`: hyper flattens into one buffer).
    pub fn with_write_vectored(inner: T, write_vectored: bool) -> WeftIo<T> {
        WeftIo { inner, write_vectored }
    }

    /// The wrapped stream.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably.
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

/// `T: 'static` lets the read tell weft's own streams apart (by type id,
/// decided at compile time) and read into hyper's buffer without zeroing
/// it.
impl<T> ::hyper::rt::Read for WeftIo<T>
where
    T: AsyncRead + Unpin + 'static,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        #[cfg(unix)]
        {
            let inner: &dyn Any = &this.inner;
            if let Some(stream) = inner.downcast_ref::<crate::net::TcpStream>() {
                return poll_read_uninit(stream, cx, buf);
            }
            if let Some(stream) = inner.downcast_ref::<crate::net::UnixStream>() {
                return poll_read_uninit(stream, cx, buf);
            }
        }
        poll_read_zeroed(&mut this.inner, cx, buf)
    }
}

/// One read from weft's own stream straight into the unfilled part of
/// `buf`, uninitialised memory included.
#[cfg(unix)]
fn poll_read_uninit<S>(
    stream: &S,
    cx: &mut Context<'_>,
    mut buf: ReadBufCursor<'_>,
) -> Poll<io::Result<()>>
where
    S: crate::net::SplitStream,
    S::Source: std::os::fd::AsRawFd,
{
    let n = {
        // SAFETY: `as_mut` requires that no initialised byte be
        // de-initialised through the slice: `poll_read_uninit` hands it to
        // read(2), which only ever writes bytes into it.
        let unfilled = unsafe { buf.as_mut() };
        ready!(stream.poll_evented().poll_read_uninit(cx, unfilled))?
    };
    // SAFETY: `advance(n)` requires the `n` bytes after the filled part to
    // be initialised: `poll_read_uninit` returned `n`, the count read(2)
    // wrote at the front of the unfilled part (at most its length).
    unsafe { buf.advance(n) };
    Poll::Ready(Ok(()))
}

/// One read from any `futures_io` stream into a zero-filled front of the
/// unfilled part of `buf` (an `AsyncRead` takes only initialised memory).
fn poll_read_zeroed<T: AsyncRead + Unpin>(
    inner: &mut T,
    cx: &mut Context<'_>,
    mut buf: ReadBufCursor<'_>,
) -> Poll<io::Result<()>> {
    let len = buf.remaining().min(MAX_READ);
    // Safe: zero-fills whatever of the first `len` unfilled bytes was
    // not initialised yet, and marks them initialised in `buf`.
    let dst = buf.initialize_unfilled_to(len);
    let n = ready!(Pin::new(inner).poll_read(cx, dst))?;
    if n > len {
        // `AsyncRead` is a safe trait: a broken implementation must not
        // make us claim bytes beyond the initialised slice.
        return Poll::Ready(Err(io::Error::other(
            "AsyncRead::poll_read returned more bytes than the buffer holds",
        )));
    }
    // SAFETY: `advance(n)` requires the `n` bytes after the filled part
    // to be initialised. `initialize_unfilled_to(len)` initialised the
    // first `len` unfilled bytes (and recorded them as initialised in
    // the buffer), and nothing has moved the filled cursor since;
    // `n <= len` was checked just above. (The reader wrote real data
    // into the first `n` of them; even if it had not, they are zeros,
    // never uninitialised memory.)
    unsafe { buf.advance(n) };
    Poll::Ready(Ok(()))
}

impl<T> ::hyper::rt::Write for WeftIo<T>
where
    T: AsyncWrite + Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    /// `poll_close`: for a socket, shuts down the write side.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.write_vectored
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WeftIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [io::IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_read_vectored(cx, bufs)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WeftIo<T> {
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

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}
