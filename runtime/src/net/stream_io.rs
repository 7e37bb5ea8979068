//! Byte-stream I/O on a [`PollEvented`], written once for every connected
//! stream socket (TCP, Unix): reads, writes, readiness and shutdown.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::task::{Context, Poll};

use mio::event::Source;

use crate::net::PollEvented;
use crate::runtime::driver::scheduled_io::Direction;

/// A mio stream socket: readable and writable through a shared reference
/// (as mio's streams are), with addresses and `shutdown(2)`.
///
/// Public only inside a private module, so it cannot be named or
/// implemented outside weft.
pub trait StreamSource: Source {
    /// The socket's address type.
    type Addr;

    /// `&self` as a reader and writer (mio implements `Read`/`Write` for
    /// `&TcpStream` and `&UnixStream`).
    fn rw(&self) -> impl Read + Write + '_;

    /// The address of the other end.
    fn peer_addr(&self) -> io::Result<Self::Addr>;

    /// The address of this end.
    fn local_addr(&self) -> io::Result<Self::Addr>;

    /// Shuts down one side of the connection, or both.
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
}

impl StreamSource for mio::net::TcpStream {
    type Addr = std::net::SocketAddr;

    fn rw(&self) -> impl Read + Write + '_ {
        self
    }

    fn peer_addr(&self) -> io::Result<Self::Addr> {
        mio::net::TcpStream::peer_addr(self)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        mio::net::TcpStream::local_addr(self)
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        mio::net::TcpStream::shutdown(self, how)
    }
}

#[cfg(unix)]
impl StreamSource for mio::net::UnixStream {
    type Addr = std::os::unix::net::SocketAddr;

    fn rw(&self) -> impl Read + Write + '_ {
        self
    }

    fn peer_addr(&self) -> io::Result<Self::Addr> {
        mio::net::UnixStream::peer_addr(self)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        mio::net::UnixStream::local_addr(self)
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        mio::net::UnixStream::shutdown(self, how)
    }
}

impl<E: StreamSource> PollEvented<E> {
    /// Waits until the stream may be readable (a false alarm is possible).
    pub(super) async fn readable(&self) -> io::Result<()> {
        self.ready(Direction::Read).await
    }

    /// Waits until the stream may be writable (a false alarm is possible).
    pub(super) async fn writable(&self) -> io::Result<()> {
        self.ready(Direction::Write).await
    }

    /// Reads what is available now, or `WouldBlock`.
    pub(super) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_io(Direction::Read, |io| io.rw().read(buf))
    }

    /// Like [`try_read`](Self::try_read), into several buffers.
    pub(super) fn try_read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.try_io(Direction::Read, |io| io.rw().read_vectored(bufs))
    }

    /// Writes what fits now, or `WouldBlock`.
    pub(super) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.try_io(Direction::Write, |io| io.rw().write(buf))
    }

    /// Like [`try_write`](Self::try_write), from several buffers.
    pub(super) fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.try_io(Direction::Write, |io| io.rw().write_vectored(bufs))
    }

    /// `AsyncRead::poll_read`.
    pub(super) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let requested = buf.len();
        self.poll_stream_io(cx, Direction::Read, requested, |io| io.rw().read(buf))
    }

    /// [`poll_read`](Self::poll_read) into memory that may be
    /// uninitialised (the unfilled part of a `tokio::io::ReadBuf`), so it
    /// need not be zeroed first. Returns how many bytes read(2) wrote at
    /// the front of `buf`. (Also behind `WeftIo`'s `hyper::rt::Read` for
    /// weft's own streams, into hyper's `ReadBufCursor`.)
    #[cfg(all(any(feature = "tokio-io", feature = "hyper"), unix))]
    pub(crate) fn poll_read_uninit(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [std::mem::MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>>
    where
        E: std::os::fd::AsRawFd,
    {
        let requested = buf.len();
        self.poll_stream_io(cx, Direction::Read, requested, |io| {
            // SAFETY: `buf` is `requested` bytes that this call borrows
            // mutably, so read(2) may write all of them; it only writes
            // through the pointer (never reads), and writing bytes into
            // `MaybeUninit<u8>` memory is always allowed. The fd is open:
            // `io` owns it for the duration of the borrow.
            let n = unsafe { libc::read(io.as_raw_fd(), buf.as_mut_ptr().cast(), requested) };
            // A negative return is an error (in errno); otherwise it is a
            // count of at most `requested`.
            usize::try_from(n).map_err(|_| io::Error::last_os_error())
        })
    }

    /// `AsyncRead::poll_read_vectored`.
    pub(super) fn poll_read_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        let requested = bufs.iter().map(|b| b.len()).sum();
        self.poll_stream_io(cx, Direction::Read, requested, |io| io.rw().read_vectored(bufs))
    }

    /// `AsyncWrite::poll_write`.
    pub(super) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_stream_io(cx, Direction::Write, buf.len(), |io| io.rw().write(buf))
    }

    /// `AsyncWrite::poll_write_vectored`.
    pub(super) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let requested = bufs.iter().map(|b| b.len()).sum();
        self.poll_stream_io(cx, Direction::Write, requested, |io| io.rw().write_vectored(bufs))
    }

    /// `AsyncWrite::poll_close`: shuts down the write side at once, so the
    /// peer reads end-of-file. (`poll_flush` has nothing to do: writes go
    /// straight to the socket.) A connection the peer already reset is
    /// closed in both directions, so `ENOTCONN` from shutdown(2) means the
    /// close has nothing left to do and counts as success (hyper, for one,
    /// would otherwise report every client that hangs up abruptly).
    pub(super) fn poll_close(&self) -> Poll<io::Result<()>> {
        Poll::Ready(match self.shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            result => result,
        })
    }

    /// Shuts down the read side, the write side, or both.
    pub(super) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io().shutdown(how)
    }

    /// The address of the other end.
    pub(super) fn peer_addr(&self) -> io::Result<E::Addr> {
        self.io().peer_addr()
    }

    /// The address of this end.
    pub(super) fn local_addr(&self) -> io::Result<E::Addr> {
        self.io().local_addr()
    }
}
