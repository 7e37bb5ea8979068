//! [`TcpStream`]: a connected TCP socket on a worker's reactor, with
//! `futures_io::AsyncRead`/`AsyncWrite`.

use std::future::poll_fn;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use crate::net::addr::{no_addresses, resolve, ToSocketAddrs};
use crate::net::poll_evented::require_runtime;
use crate::net::split::split;
use crate::net::split_owned::split_owned;
use crate::net::tcp::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::net::PollEvented;
use crate::runtime::driver::scheduled_io::Direction;

/// A TCP connection.
///
/// Made by [`connect`](TcpStream::connect), by
/// [`TcpListener::accept`](crate::net::TcpListener::accept), or from a
/// standard library stream. It implements `futures_io::AsyncRead` and
/// `AsyncWrite`, so `futures_util`'s `AsyncReadExt`/`AsyncWriteExt`
/// (`read_exact`, `write_all`, `copy`...; its `io` feature) work on it;
/// closing it (`poll_close`) shuts down the write side, so the peer reads
/// end-of-file while this side can still read. For reading and writing from
/// two tasks, [`into_split`](TcpStream::into_split) it. Without any
/// extension trait, [`readable`](TcpStream::readable) and
/// [`try_read`](TcpStream::try_read) (and their write twins) do the job.
///
/// One task at a time should wait in each direction: a second task reading
/// (or waiting in [`readable`](TcpStream::readable)) concurrently with the
/// first takes over the wake-up.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// use std::io::ErrorKind;
/// use std::net::Shutdown;
/// use weft::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let client = TcpStream::connect(listener.local_addr()?).await?;
/// let (server, _) = listener.accept().await?;
///
/// client.writable().await?;
/// client.try_write(b"ping")?;
/// client.shutdown(Shutdown::Write)?; // the server will read end-of-file
///
/// let (mut got, mut buf) = (Vec::new(), [0; 16]);
/// loop {
///     server.readable().await?;
///     match server.try_read(&mut buf) {
///         Ok(0) => break, // end-of-file
///         Ok(n) => got.extend_from_slice(&buf[..n]),
///         Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
///         Err(e) => return Err(e),
///     }
/// }
/// assert_eq!(got, b"ping");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct TcpStream {
    pub(super) io: PollEvented<mio::net::TcpStream>,
}

impl TcpStream {
    /// Opens a connection to `addr`, waiting until it is established.
    ///
    /// `addr` may resolve to several addresses (a host name): each is tried
    /// in turn; if none connects, the error of the last one is returned
    /// (e.g. [`io::ErrorKind::ConnectionRefused`] when nothing listens).
    ///
    /// # Errors
    /// The OS's error for the connection attempt, or an error if called
    /// outside a weft runtime.
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let mut last_err = None;
        for addr in resolve(&addr).await? {
            match TcpStream::connect_addr(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(no_addresses))
    }

    /// One non-blocking connect: start it, wait until the socket is
    /// writable, then ask the socket how it went.
    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        // No connection attempt leaves this process without a runtime to
        // finish it.
        require_runtime()?;
        TcpStream::connect_mio(mio::net::TcpStream::connect(addr)?).await
    }

    /// Registers a stream whose non-blocking connect has started and waits
    /// for its outcome (also `TcpSocket::connect`'s second half).
    pub(super) async fn connect_mio(stream: mio::net::TcpStream) -> io::Result<TcpStream> {
        let stream = TcpStream::from_mio(stream)?;
        poll_fn(|cx| stream.io.poll_io(cx, Direction::Write, connect_outcome)).await?;
        Ok(stream)
    }

    /// Registers an already connected (or connecting) mio stream.
    pub(super) fn from_mio(stream: mio::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream { io: PollEvented::new(stream)? })
    }

    /// Wraps a connected standard library stream, setting it non-blocking
    /// and registering it with the current runtime.
    ///
    /// # Errors
    /// Outside a weft runtime, or if the OS refuses.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::from_mio(mio::net::TcpStream::from_std(stream))
    }

    /// Deregisters the stream and returns it as a standard library one,
    /// still in non-blocking mode (call `set_nonblocking(false)` to block).
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        self.io.into_inner().map(Into::into)
    }

    /// The remote address of this connection.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.peer_addr()
    }

    /// The local address of this connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.io().take_error()
    }

    /// Shuts down the read side, the write side, or both, at once (like
    /// [`std::net::TcpStream::shutdown`]). After `Shutdown::Write` the peer
    /// reads end-of-file; this side can still read.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.shutdown(how)
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm when `true`).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.io().set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.io().nodelay()
    }

    /// Sets the IP time-to-live (`IP_TTL`) of outgoing packets.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.io().set_ttl(ttl)
    }

    /// The IP time-to-live (`IP_TTL`).
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.io().ttl()
    }

    /// Waits until the stream may be readable (data, end-of-file or an
    /// error to report). May be a false alarm: a following
    /// [`try_read`](TcpStream::try_read) can still return `WouldBlock`.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// Waits until the stream is ready for `interest` (either side, for
    /// `READABLE | WRITABLE`) and says for what. The readiness stays cached
    /// until a `try_read`/`try_write` returns `WouldBlock`, so waiting again
    /// without one returns at once.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// use weft::io::Interest;
    /// use weft::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let stream = TcpStream::connect(listener.local_addr()?).await?;
    /// let ready = stream.ready(Interest::READABLE | Interest::WRITABLE).await?;
    /// assert!(ready.is_writable());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn ready(&self, interest: crate::io::Interest) -> io::Result<crate::io::Ready> {
        self.io.ready_for(interest).await
    }

    /// Polls for read readiness, like [`readable`](TcpStream::readable).
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_ready(cx, Direction::Read)
    }

    /// Waits until the stream may be writable. May be a false alarm: a
    /// following [`try_write`](TcpStream::try_write) can still return
    /// `WouldBlock`.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await
    }

    /// Polls for write readiness, like [`writable`](TcpStream::writable).
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_ready(cx, Direction::Write)
    }

    /// Reads what is available now into `buf`, without waiting:
    /// `Ok(0)` at end-of-file (or for an empty `buf`),
    /// [`io::ErrorKind::WouldBlock`] if nothing is available.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// # let listener = weft::net::TcpListener::bind("127.0.0.1:0").await?;
    /// # let stream = weft::net::TcpStream::connect(listener.local_addr()?).await?;
    /// # let (peer, _) = listener.accept().await?;
    /// # peer.writable().await?;
    /// # peer.try_write(b"hi")?;
    /// let mut buf = [0; 1024];
    /// let n = loop {
    ///     stream.readable().await?;
    ///     match stream.try_read(&mut buf) {
    ///         Ok(n) => break n,
    ///         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
    ///         Err(e) => return Err(e),
    ///     }
    /// };
    /// # assert_eq!(&buf[..n], b"hi");
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_read(buf)
    }

    /// Like [`try_read`](TcpStream::try_read), into several buffers.
    pub fn try_read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.io.try_read_vectored(bufs)
    }

    /// Writes what fits now from `buf`, without waiting:
    /// [`io::ErrorKind::WouldBlock`] if the send buffer is full.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_write(buf)
    }

    /// Like [`try_write`](TcpStream::try_write), from several buffers.
    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.io.try_write_vectored(bufs)
    }

    /// Reads data into `buf` without removing it from the socket's queue,
    /// waiting until some is available: the next read sees it again.
    /// `Ok(0)` at end-of-file.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_peek(cx, buf)).await
    }

    /// Polls for [`peek`](TcpStream::peek).
    pub fn poll_peek(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_io(cx, Direction::Read, |io| io.peek(buf))
    }

    /// Splits the stream into a read half and a write half that can move to
    /// different tasks. Dropping the [`OwnedWriteHalf`] shuts down the
    /// write side (unless it was `forget`-ed);
    /// `OwnedReadHalf::reunite` puts the stream back together.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        split_owned(self)
    }

    /// Splits a borrowed stream into a read half and a write half, for
    /// reading and writing concurrently within one task (e.g. with
    /// `join`). Closing the [`WriteHalf`] shuts down the write side.
    ///
    /// With `futures_util`'s `AsyncReadExt` in scope, `stream.split()`
    /// resolves to that trait's `split(self)` instead (it takes the stream
    /// by value); write `TcpStream::split(&mut stream)` to get this one.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        split(self)
    }
}

/// After a non-blocking connect, the socket turned writable: a pending
/// error is the connect's failure (e.g. refused); no peer yet means the
/// readiness was stale, so wait again.
fn connect_outcome(io: &mio::net::TcpStream) -> io::Result<()> {
    if let Some(e) = io.take_error()? {
        return Err(e);
    }
    match io.peer_addr() {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Err(io::ErrorKind::WouldBlock.into()),
        Err(e) => Err(e),
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_read(cx, buf)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_read_vectored(cx, bufs)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write_vectored(cx, bufs)
    }

    /// Writes go straight to the socket: nothing to flush.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Shuts down the write side: the peer reads end-of-file.
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_close()
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.io.io().as_raw_fd()
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for TcpStream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.io.io().as_fd()
    }
}
