//! [`ReadHalf`] and [`WriteHalf`]: a borrowed stream ([`TcpStream`],
//! [`UnixStream`]) split in two, to read and write concurrently within one
//! task; and [`SplitStream`], what a stream type provides to be split.
//!
//! [`TcpStream`]: crate::net::TcpStream
//! [`UnixStream`]: crate::net::UnixStream

use std::io::{self, IoSlice, IoSliceMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use crate::net::split_owned::{OwnedReadHalf, OwnedWriteHalf};
use crate::net::stream_io::StreamSource;
use crate::net::PollEvented;

/// A stream type that splits into halves: its registered socket, and the
/// error its owned halves' `reunite` returns.
///
/// Public only inside a private module, so it cannot be named or
/// implemented outside weft.
pub trait SplitStream: Sized {
    /// The mio socket inside.
    type Source: StreamSource;

    /// What `reunite` returns for halves of two different streams.
    type ReuniteError;

    /// The registered socket.
    fn poll_evented(&self) -> &PollEvented<Self::Source>;

    /// Wraps two unrelated halves in [`Self::ReuniteError`].
    fn reunite_error(read: OwnedReadHalf<Self>, write: OwnedWriteHalf<Self>) -> Self::ReuniteError;
}

/// The read half of a borrowed stream, made by `split` (e.g.
/// [`TcpStream::split`](crate::net::TcpStream::split)).
#[derive(Debug)]
pub struct ReadHalf<'a, S>(&'a S);

/// The write half of a borrowed stream, made by `split` (e.g.
/// [`TcpStream::split`](crate::net::TcpStream::split)). Closing it
/// (`poll_close`) shuts down the stream's write side.
#[derive(Debug)]
pub struct WriteHalf<'a, S>(&'a S);

pub(super) fn split<S>(stream: &mut S) -> (ReadHalf<'_, S>, WriteHalf<'_, S>) {
    (ReadHalf(stream), WriteHalf(stream))
}

impl<'a, S: SplitStream> ReadHalf<'a, S> {
    /// The stream this half reads from.
    pub(crate) fn stream(&self) -> &'a S {
        self.0
    }

    /// The remote address of the connection.
    pub fn peer_addr(&self) -> io::Result<<S::Source as StreamSource>::Addr> {
        self.0.poll_evented().peer_addr()
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<<S::Source as StreamSource>::Addr> {
        self.0.poll_evented().local_addr()
    }

    /// Waits until the stream may be readable; see
    /// [`TcpStream::readable`](crate::net::TcpStream::readable).
    pub async fn readable(&self) -> io::Result<()> {
        self.0.poll_evented().readable().await
    }

    /// Reads what is available now; see
    /// [`TcpStream::try_read`](crate::net::TcpStream::try_read).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.poll_evented().try_read(buf)
    }
}

impl<S: SplitStream> WriteHalf<'_, S> {
    /// The remote address of the connection.
    pub fn peer_addr(&self) -> io::Result<<S::Source as StreamSource>::Addr> {
        self.0.poll_evented().peer_addr()
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<<S::Source as StreamSource>::Addr> {
        self.0.poll_evented().local_addr()
    }

    /// Waits until the stream may be writable; see
    /// [`TcpStream::writable`](crate::net::TcpStream::writable).
    pub async fn writable(&self) -> io::Result<()> {
        self.0.poll_evented().writable().await
    }

    /// Writes what fits now; see
    /// [`TcpStream::try_write`](crate::net::TcpStream::try_write).
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.poll_evented().try_write(buf)
    }
}

impl<S: SplitStream> AsyncRead for ReadHalf<'_, S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_evented().poll_read(cx, buf)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_evented().poll_read_vectored(cx, bufs)
    }
}

impl<S: SplitStream> AsyncWrite for WriteHalf<'_, S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_evented().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_evented().poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Shuts down the stream's write side: the peer reads end-of-file.
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_evented().poll_close()
    }
}
