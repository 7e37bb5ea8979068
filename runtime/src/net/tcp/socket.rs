//! [`TcpSocket`]: a TCP socket not yet listening or connected, to set
//! options that must come before `bind`, `listen` or `connect`.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::net::poll_evented::require_runtime;
use crate::net::{TcpListener, TcpStream};

/// A TCP socket that has not yet become a listener or a stream.
///
/// Some options only matter before the socket binds, listens or connects
/// (`SO_REUSEADDR`, `SO_REUSEPORT`, buffer sizes for the window scale, the
/// local address a client connects from): set them here, then turn the
/// socket into a [`TcpListener`] with [`listen`](TcpSocket::listen) or into
/// a [`TcpStream`] with [`connect`](TcpSocket::connect).
///
/// Sockets are created non-blocking and close-on-exec. Creating one and
/// setting its options needs no runtime; `listen` and `connect` register
/// it with the current weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// use weft::net::TcpSocket;
///
/// // A server socket.
/// let socket = TcpSocket::new_v4()?;
/// socket.set_reuseaddr(true)?;
/// socket.bind("127.0.0.1:0".parse().unwrap())?;
/// let listener = socket.listen(1024)?;
/// let addr = listener.local_addr()?;
///
/// // A client socket, with Nagle's algorithm off from the first byte.
/// let socket = TcpSocket::new_v4()?;
/// socket.set_nodelay(true)?;
/// let stream = socket.connect(addr).await?;
///
/// let (accepted, peer) = listener.accept().await?;
/// assert_eq!(peer, stream.local_addr()?);
/// assert!(stream.nodelay()?);
/// # drop(accepted);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct TcpSocket {
    inner: Socket,
}

impl TcpSocket {
    /// Creates an IPv4 TCP socket (`AF_INET`).
    ///
    /// # Errors
    /// The OS's error, e.g. when out of file descriptors.
    ///
    /// ```
    /// let socket = weft::net::TcpSocket::new_v4()?;
    /// socket.bind("127.0.0.1:0".parse().unwrap())?;
    /// assert!(socket.local_addr()?.is_ipv4());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new_v4() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV4)
    }

    /// Creates an IPv6 TCP socket (`AF_INET6`).
    ///
    /// # Errors
    /// The OS's error, e.g. when out of file descriptors or when the
    /// system has no IPv6 support.
    pub fn new_v6() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV6)
    }

    /// An IPv4 or IPv6 socket, whichever `addr` needs.
    pub(super) fn new_for_addr(addr: SocketAddr) -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::for_address(addr))
    }

    fn new(domain: Domain) -> io::Result<TcpSocket> {
        // socket2 sets close-on-exec itself (atomically with
        // `SOCK_CLOEXEC` where the OS has it).
        let inner = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
        inner.set_nonblocking(true)?;
        Ok(TcpSocket { inner })
    }

    /// Sets `SO_KEEPALIVE`: the OS probes an idle connection and reports
    /// it broken if the peer stops answering.
    pub fn set_keepalive(&self, keepalive: bool) -> io::Result<()> {
        self.inner.set_keepalive(keepalive)
    }

    /// Whether `SO_KEEPALIVE` is set.
    pub fn keepalive(&self) -> io::Result<bool> {
        self.inner.keepalive()
    }

    /// Sets `SO_REUSEADDR`: lets a listener bind a port that connections
    /// of a previous listener still hold (in `TIME_WAIT`), so a restarted
    /// server need not wait for them. (`TcpListener::bind` sets it.)
    ///
    /// Must be set before [`bind`](TcpSocket::bind).
    pub fn set_reuseaddr(&self, reuseaddr: bool) -> io::Result<()> {
        self.inner.set_reuse_address(reuseaddr)
    }

    /// Whether `SO_REUSEADDR` is set.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        self.inner.reuse_address()
    }

    /// Sets `SO_REUSEPORT`: lets several sockets (of the same user) bind
    /// the same address and port; on Linux the kernel spreads incoming
    /// connections over the listeners.
    ///
    /// Must be set before [`bind`](TcpSocket::bind), on every socket that
    /// shares the port.
    #[cfg(all(
        unix,
        not(any(
            target_os = "solaris",
            target_os = "illumos",
            target_os = "cygwin",
            target_os = "nuttx"
        ))
    ))]
    pub fn set_reuseport(&self, reuseport: bool) -> io::Result<()> {
        self.inner.set_reuse_port(reuseport)
    }

    /// Whether `SO_REUSEPORT` is set.
    #[cfg(all(
        unix,
        not(any(
            target_os = "solaris",
            target_os = "illumos",
            target_os = "cygwin",
            target_os = "nuttx"
        ))
    ))]
    pub fn reuseport(&self) -> io::Result<bool> {
        self.inner.reuse_port()
    }

    /// Sets the send buffer size (`SO_SNDBUF`) in bytes.
    ///
    /// The OS may adjust it: Linux doubles the value (for its bookkeeping)
    /// and clamps it between a minimum and `net.core.wmem_max`, so
    /// [`send_buffer_size`](TcpSocket::send_buffer_size) reads back
    /// something else.
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        self.inner.set_send_buffer_size(to_usize(size))
    }

    /// The send buffer size (`SO_SNDBUF`) in bytes, as the OS applied it.
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        self.inner.send_buffer_size().map(to_u32)
    }

    /// Sets the receive buffer size (`SO_RCVBUF`) in bytes. Set it before
    /// `listen` or `connect`: the TCP window scale is fixed at the
    /// handshake. The OS may adjust it, as for
    /// [`set_send_buffer_size`](TcpSocket::set_send_buffer_size).
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        self.inner.set_recv_buffer_size(to_usize(size))
    }

    /// The receive buffer size (`SO_RCVBUF`) in bytes, as the OS applied
    /// it.
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        self.inner.recv_buffer_size().map(to_u32)
    }

    /// Sets `SO_LINGER`. With `Some(duration)`, closing the socket waits
    /// (in the background for a non-blocking socket) at most `duration`
    /// for unsent data; `Some(Duration::ZERO)` drops unsent data and resets
    /// the connection at close. `None` is the default: close returns at
    /// once and the OS sends what is left.
    pub fn set_linger(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner.set_linger(dur)
    }

    /// The `SO_LINGER` setting; see [`set_linger`](TcpSocket::set_linger).
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.inner.linger()
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm when `true`). The
    /// stream made by [`connect`](TcpSocket::connect), and on most systems
    /// the streams a listener accepts, keep it.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_tcp_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.tcp_nodelay()
    }

    /// The local address the socket is bound to: after
    /// [`bind`](TcpSocket::bind), with the real port when bound to port 0.
    ///
    /// ```
    /// let socket = weft::net::TcpSocket::new_v4()?;
    /// socket.bind("127.0.0.1:0".parse().unwrap())?;
    /// let addr = socket.local_addr()?;
    /// assert_eq!(addr.ip(), std::net::Ipv4Addr::LOCALHOST);
    /// assert_ne!(addr.port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()?.as_socket().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "the socket's address is not an IP address")
        })
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    /// Binds the socket to `addr`. Port 0 asks the OS for a free port (see
    /// [`local_addr`](TcpSocket::local_addr)). A client socket may bind
    /// before [`connect`](TcpSocket::connect) to pick its local address.
    ///
    /// # Errors
    /// The OS's error: [`io::ErrorKind::AddrInUse`] if another socket holds
    /// the port (and `SO_REUSEADDR`/`SO_REUSEPORT` do not allow sharing
    /// it), `AddrNotAvailable` for an address not on this machine, an
    /// error for an IPv6 address on an IPv4 socket...
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.inner.bind(&addr.into())
    }

    /// Turns the socket into a [`TcpListener`] registered with the
    /// current runtime, with at most `backlog` connections waiting for
    /// `accept` (the OS may cap it, e.g. at `net.core.somaxconn`). Binds to
    /// a free port of the unspecified address first if
    /// [`bind`](TcpSocket::bind) was not called.
    ///
    /// # Errors
    /// Outside a weft runtime (the error says so), or the OS's error.
    ///
    /// ```
    /// # weft::runtime::Runtime::new().unwrap().block_on(async {
    /// let socket = weft::net::TcpSocket::new_v4()?;
    /// socket.bind("127.0.0.1:0".parse().unwrap())?;
    /// let listener = socket.listen(128)?;
    /// # let _ = listener;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        require_runtime()?;
        // A socket from `from_std_stream` may still block.
        self.inner.set_nonblocking(true)?;
        self.inner.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
        TcpListener::from_mio(mio::net::TcpListener::from_std(self.inner.into()))
    }

    /// Connects to `addr`, registering the socket with the current
    /// runtime, and waits until the connection is established.
    ///
    /// # Errors
    /// Outside a weft runtime (the error says so), or the OS's error, e.g.
    /// [`io::ErrorKind::ConnectionRefused`] when nothing listens on `addr`.
    ///
    /// # Cancel safety
    /// Dropping the future closes the socket and abandons the connection.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        // Checked first: outside a runtime the connect must not reach the
        // network (and its error would hide the real mistake).
        require_runtime()?;
        self.inner.set_nonblocking(true)?;
        if let Err(e) = self.inner.connect(&addr.into()) {
            if !connect_in_progress(&e) {
                return Err(e);
            }
        }
        TcpStream::connect_mio(mio::net::TcpStream::from_std(self.inner.into())).await
    }

    /// Wraps a standard library stream that is not connected yet, e.g. a
    /// socket configured with another crate (socket2, nix) and turned into
    /// a `std::net::TcpStream`. [`listen`](TcpSocket::listen) and
    /// [`connect`](TcpSocket::connect) make it non-blocking.
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use std::os::fd::{FromRawFd, IntoRawFd};
    /// use weft::net::TcpSocket;
    ///
    /// let fd = TcpSocket::new_v4()?.into_raw_fd();
    /// // SAFETY: `fd` is an open TCP socket that nothing else owns.
    /// let std_stream = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    /// let socket = TcpSocket::from_std_stream(std_stream);
    /// socket.bind("127.0.0.1:0".parse().unwrap())?;
    /// # }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std_stream(std_stream: std::net::TcpStream) -> TcpSocket {
        TcpSocket { inner: Socket::from(std_stream) }
    }
}

/// Whether `connect(2)` on a non-blocking socket failed only because the
/// handshake is still under way (the outcome comes with writability).
fn connect_in_progress(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::EINPROGRESS)
    }
    #[cfg(not(unix))]
    {
        e.kind() == io::ErrorKind::WouldBlock
    }
}

fn to_usize(size: u32) -> usize {
    usize::try_from(size).unwrap_or(usize::MAX)
}

/// Buffer sizes fit `c_int` on every OS, so never saturate in practice.
fn to_u32(size: usize) -> u32 {
    u32::try_from(size).unwrap_or(u32::MAX)
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.inner.as_raw_fd()
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for TcpSocket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

#[cfg(unix)]
impl std::os::fd::FromRawFd for TcpSocket {
    /// Wraps `fd`, which must be an open TCP socket that nothing else
    /// owns; it is used as it is (put it in non-blocking mode, or let
    /// `listen`/`connect` do it).
    // SAFETY: an unsafe trait method: its caller promises `fd` is an open
    // socket it owns and hands over, the contract `Socket::from_raw_fd`
    // needs below.
    unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> TcpSocket {
        // SAFETY: the caller guarantees that `fd` is an open socket owned
        // by nobody else, which is what `Socket::from_raw_fd` requires.
        TcpSocket { inner: unsafe { Socket::from_raw_fd(fd) } }
    }
}

#[cfg(unix)]
impl std::os::fd::IntoRawFd for TcpSocket {
    fn into_raw_fd(self) -> std::os::fd::RawFd {
        self.inner.into_raw_fd()
    }
}
