//! [`OwnedReadHalf`] and [`OwnedWriteHalf`]: a stream ([`TcpStream`],
//! [`UnixStream`]) split in two halves that share it through an `Arc` and
//! can move to different tasks.
//!
//! [`TcpStream`]: crate::net::TcpStream
//! [`UnixStream`]: crate::net::UnixStream

use std::io::{self, IoSlice, IoSliceMut};
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use crate::net::split::SplitStream;
use crate::net::stream_io::StreamSource;

/// The read half of a stream, made by `into_split` (e.g.
/// [`TcpStream::into_split`](crate::net::TcpStream::into_split)).
#[derive(Debug)]
pub struct OwnedReadHalf<S: SplitStream> {
    inner: Arc<S>,
}

/// The write half of a stream, made by `into_split` (e.g.
/// [`TcpStream::into_split`](crate::net::TcpStream::into_split)).
///
/// Dropping it shuts down the stream's write side, so the peer reads
/// end-of-file, unless it was [`forget`](OwnedWriteHalf::forget)-ed or
/// already closed. Closing it (`poll_close`) does the same at once.
#[derive(Debug)]
pub struct OwnedWriteHalf<S: SplitStream> {
    inner: Arc<S>,
    shutdown_on_drop: bool,
}

/// What a `ReuniteError` says.
pub(super) const REUNITE_ERROR: &str = "tried to reunite halves that are not from the same socket";

pub(super) fn split_owned<S: SplitStream>(stream: S) -> (OwnedReadHalf<S>, OwnedWriteHalf<S>) {
    let inner = Arc::new(stream);
    (OwnedReadHalf { inner: inner.clone() }, OwnedWriteHalf { inner, shutdown_on_drop: true })
}

fn reunite<S: SplitStream>(
    read: OwnedReadHalf<S>,
    write: OwnedWriteHalf<S>,
) -> Result<S, S::ReuniteError> {
    if !Arc::ptr_eq(&read.inner, &write.inner) {
        return Err(S::reunite_error(read, write));
    }
    write.forget();
    // The write half is gone, so the read half holds the only reference.
    let only = Arc::try_unwrap(read.inner);
    Ok(only.unwrap_or_else(|_| unreachable!("the read half is the last reference in reunite")))
}

impl<S: SplitStream> OwnedReadHalf<S> {
    /// The stream this half reads from.
    pub(crate) fn stream(&self) -> &S {
        &self.inner
    }

    /// Puts the stream back together with its write half (without shutting
    /// anything down). Fails, returning both in a `ReuniteError`, if `other`
    /// comes from another stream.
    pub fn reunite(self, other: OwnedWriteHalf<S>) -> Result<S, S::ReuniteError> {
        reunite(self, other)
    }

    /// The remote address of the connection.
    pub fn peer_addr(&self) -> io::Result<<S::Source as StreamSource>::Addr> {
        self.inner.poll_evented().peer_addr()
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<<S::Source as StreamSource>::Addr> {
        self.inner.poll_evented().local_addr()
    }

    /// Waits until the stream may be readable; see
    /// [`TcpStream::readable`](crate::net::TcpStream::readable).
    pub async fn readable(&self) -> io::Result<()> {
        self.inner.poll_evented().readable().await
    }

    /// Reads what is available now; see
    /// [`TcpStream::try_read`](crate::net::TcpStream::try_read).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.poll_evented().try_read(buf)
    }

    /// Like [`try_read`](OwnedReadHalf::try_read), into several buffers.
    pub fn try_read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.inner.poll_evented().try_read_vectored(bufs)
    }
}

impl<S: SplitStream> OwnedWriteHalf<S> {
    /// Puts the stream back together with its read half; see
    /// [`OwnedReadHalf::reunite`].
    pub fn reunite(self, other: OwnedReadHalf<S>) -> Result<S, S::ReuniteError> {
        reunite(other, self)
    }

    /// Drops this half without shutting down the write side.
    pub fn forget(mut self) {
        self.shutdown_on_drop = false;
    }

    /// The remote address of the connection.
    pub fn peer_addr(&self) -> io::Result<<S::Source as StreamSource>::Addr> {
        self.inner.poll_evented().peer_addr()
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<<S::Source as StreamSource>::Addr> {
        self.inner.poll_evented().local_addr()
    }

    /// Waits until the stream may be writable; see
    /// [`TcpStream::writable`](crate::net::TcpStream::writable).
    pub async fn writable(&self) -> io::Result<()> {
        self.inner.poll_evented().writable().await
    }

    /// Writes what fits now; see
    /// [`TcpStream::try_write`](crate::net::TcpStream::try_write).
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.poll_evented().try_write(buf)
    }

    /// Like [`try_write`](OwnedWriteHalf::try_write), from several buffers.
    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.inner.poll_evented().try_write_vectored(bufs)
    }
}

impl<S: SplitStream> Drop for OwnedWriteHalf<S> {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            // The peer may have reset the connection already: nothing left
            // to shut down, and no one to tell.
            let _ = self.inner.poll_evented().shutdown(Shutdown::Write);
        }
    }
}

impl<S: SplitStream> AsyncRead for OwnedReadHalf<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_evented().poll_read(cx, buf)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_evented().poll_read_vectored(cx, bufs)
    }
}

impl<S: SplitStream> AsyncWrite for OwnedWriteHalf<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_evented().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_evented().poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Shuts down the stream's write side: the peer reads end-of-file.
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = self.inner.poll_evented().shutdown(Shutdown::Write);
        if result.is_ok() {
            self.get_mut().shutdown_on_drop = false;
        }
        Poll::Ready(result)
    }
}
