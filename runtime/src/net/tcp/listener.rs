//! [`TcpListener`]: a listening TCP socket on a worker's reactor.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::{ready, Context, Poll};

use crate::net::addr::{each_addr, resolve, ToSocketAddrs};
use crate::net::{PollEvented, TcpSocket, TcpStream};
use crate::runtime::driver::scheduled_io::Direction;

/// A TCP socket server, listening for connections.
///
/// Created with [`bind`](TcpListener::bind) (which sets `SO_REUSEADDR`, like
/// Tokio) or [`from_std`](TcpListener::from_std); each
/// [`accept`](TcpListener::accept) yields a connected [`TcpStream`].
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// use weft::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let addr = listener.local_addr()?;
/// let client = weft::spawn(async move { TcpStream::connect(addr).await });
///
/// let (socket, peer) = listener.accept().await?;
/// let client = client.await.unwrap()?;
/// assert_eq!(peer, client.local_addr()?);
/// assert_eq!(socket.local_addr()?, addr);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct TcpListener {
    io: PollEvented<mio::net::TcpListener>,
}

impl TcpListener {
    /// Creates a listener bound to `addr` (with `SO_REUSEADDR` set and a
    /// backlog of 1024), registered with the current runtime.
    ///
    /// `addr` may resolve to several addresses (a host name): each is tried
    /// in turn and the first that binds wins; if none does, the last error
    /// is returned. Port 0 asks the OS for a free port (see
    /// [`local_addr`](TcpListener::local_addr)).
    ///
    /// # Errors
    /// The OS's error (address in use, permission denied...), or an error
    /// if called outside a weft runtime.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let addrs = resolve(&addr).await?;
        each_addr(addrs, bind_addr)
    }

    /// Registers a listening mio socket with the current runtime.
    pub(super) fn from_mio(listener: mio::net::TcpListener) -> io::Result<TcpListener> {
        let io = PollEvented::new_with_interest(listener, mio::Interest::READABLE)?;
        Ok(TcpListener { io })
    }

    /// Waits for a new connection and returns it with the peer's address.
    ///
    /// Errors from `accept(2)` are returned as they are; weft never retries
    /// them. Some are about the listener's environment rather than the
    /// listener: `EMFILE`/`ENFILE` ("Too many open files") when the process
    /// or the system is out of file descriptors, `ENOBUFS`/`ENOMEM`, or
    /// `ECONNABORTED` for a connection the peer reset while it waited. The
    /// listener still works after them, but the pending connection stays
    /// queued, so calling `accept` again at once fails again: a server loop
    /// should log such an error and back off for a moment (for example with
    /// [`weft::time::sleep`](crate::time::sleep)) instead of spinning.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use weft::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// # let addr = listener.local_addr()?;
    /// # weft::spawn(async move { weft::net::TcpStream::connect(addr).await });
    /// loop {
    ///     match listener.accept().await {
    ///         Ok((stream, peer)) => {
    ///             weft::spawn(async move {
    ///                 // serve the connection...
    ///                 drop((stream, peer));
    ///             });
    ///             # break;
    ///         }
    ///         Err(e) => {
    ///             // e.g. "Too many open files": let connections close
    ///             // before trying again.
    ///             eprintln!("accept failed: {e}");
    ///             weft::time::sleep(Duration::from_millis(100)).await;
    ///         }
    ///     }
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Cancel safety
    /// Dropping the future before it completes loses no connection.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a new connection: `Pending` (waking `cx` later) if none is
    /// queued. Errors as for [`accept`](TcpListener::accept).
    ///
    /// Only the task that polled last is woken; one task should accept from
    /// a listener at a time.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (stream, addr) = ready!(self.io.poll_io(cx, Direction::Read, |io| io.accept()))?;
        Poll::Ready(TcpStream::from_mio(stream).map(|stream| (stream, addr)))
    }

    /// Wraps a standard library listener, setting it non-blocking and
    /// registering it with the current runtime.
    ///
    /// # Errors
    /// Outside a weft runtime, or if the OS refuses.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let listener = weft::net::TcpListener::from_std(std_listener)?;
    /// # let _ = listener;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        TcpListener::from_mio(mio::net::TcpListener::from_std(listener))
    }

    /// Deregisters the listener and returns it as a standard library one,
    /// still in non-blocking mode (call `set_nonblocking(false)` to block).
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        self.io.into_inner().map(Into::into)
    }

    /// The local address this listener is bound to (with the real port
    /// when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.io().local_addr()
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.io().take_error()
    }

    /// Sets the IP time-to-live (`IP_TTL`) of the sockets this listener
    /// accepts.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.io().set_ttl(ttl)
    }

    /// The IP time-to-live (`IP_TTL`); see [`set_ttl`](TcpListener::set_ttl).
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.io().ttl()
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.io.io().as_raw_fd()
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for TcpListener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.io.io().as_fd()
    }
}

/// Listen backlog, as Tokio's: large enough that a burst of a thousand
/// connects is not dropped by the kernel before the accept loop runs.
/// (mio's own bind listens with 128, which such a burst overflows.)
const BACKLOG: u32 = 1024;

/// A listener on `addr` with `SO_REUSEADDR`.
fn bind_addr(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_for_addr(addr)?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}
