//! `TcpSocket` and `lookup_host`: options read back, listen + connect +
//! echo, binding rules (port 0, `AddrInUse`, `SO_REUSEADDR` over
//! connections still closing), refused connections, raw-fd round trips,
//! use outside a runtime, and name lookups.
//!
//! Only 127.0.0.1, ::1 and localhost are used.

mod common;

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use common::{
    both_flavors, expect_no_runtime_failure, ipv6_loopback_available, std_block_on, with_timeout,
    Flavor,
};
use futures_util::{AsyncReadExt, AsyncWriteExt};
use weft::net::{lookup_host, TcpListener, TcpSocket, TcpStream};

fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Runs `body` in `block_on` on a fresh runtime of `flavor`, bounded.
fn run<F>(name: &str, flavor: Flavor, body: impl FnOnce() -> F + Send + 'static)
where
    F: std::future::Future<Output = ()>,
{
    with_timeout(&format!("{name}-{}", flavor.name()), 60, move || {
        flavor.build().block_on(body());
    });
}

/// A port nothing listens on: bound by a listener, then closed.
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind(localhost(0)).unwrap();
    listener.local_addr().unwrap()
}

// ---------------------------------------------------------------------------
// Options

both_flavors!(options_read_back);
fn options_read_back(flavor: Flavor) {
    run("options", flavor, || async {
        let socket = TcpSocket::new_v4().unwrap();
        for on in [true, false] {
            socket.set_reuseaddr(on).unwrap();
            assert_eq!(socket.reuseaddr().unwrap(), on, "SO_REUSEADDR");
            #[cfg(unix)]
            {
                socket.set_reuseport(on).unwrap();
                assert_eq!(socket.reuseport().unwrap(), on, "SO_REUSEPORT");
            }
            socket.set_keepalive(on).unwrap();
            assert_eq!(socket.keepalive().unwrap(), on, "SO_KEEPALIVE");
            socket.set_nodelay(on).unwrap();
            assert_eq!(socket.nodelay().unwrap(), on, "TCP_NODELAY");
        }

        // The OS may round buffer sizes (Linux doubles them): a larger
        // request must read back at least as large as the default.
        let default_send = socket.send_buffer_size().unwrap();
        let default_recv = socket.recv_buffer_size().unwrap();
        assert!(default_send > 0 && default_recv > 0);
        socket.set_send_buffer_size(4096).unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let small_send = socket.send_buffer_size().unwrap();
        let small_recv = socket.recv_buffer_size().unwrap();
        socket.set_send_buffer_size(64 * 1024).unwrap();
        socket.set_recv_buffer_size(64 * 1024).unwrap();
        assert!(socket.send_buffer_size().unwrap() > small_send, "SO_SNDBUF did not grow");
        assert!(socket.recv_buffer_size().unwrap() > small_recv, "SO_RCVBUF did not grow");

        assert_eq!(socket.linger().unwrap(), None);
        socket.set_linger(Some(Duration::from_secs(3))).unwrap();
        assert_eq!(socket.linger().unwrap(), Some(Duration::from_secs(3)));
        socket.set_linger(None).unwrap();
        assert_eq!(socket.linger().unwrap(), None);

        assert_eq!(socket.take_error().unwrap().map(|e| e.to_string()), None);
    });
}

#[cfg(unix)]
#[test]
fn sockets_are_non_blocking_and_close_on_exec() {
    use std::os::fd::AsRawFd;
    let mut sockets = vec![TcpSocket::new_v4().unwrap()];
    if ipv6_loopback_available() {
        sockets.push(TcpSocket::new_v6().unwrap());
    }
    for socket in sockets {
        let fd = socket.as_raw_fd();
        // SAFETY: `fd` is open (owned by `socket`) and F_GETFL/F_GETFD
        // only read its flags.
        let (status, fd_flags) =
            unsafe { (libc::fcntl(fd, libc::F_GETFL), libc::fcntl(fd, libc::F_GETFD)) };
        assert!(status >= 0 && fd_flags >= 0, "fcntl failed");
        assert_ne!(status & libc::O_NONBLOCK, 0, "not non-blocking");
        assert_ne!(fd_flags & libc::FD_CLOEXEC, 0, "not close-on-exec");
    }
}

// ---------------------------------------------------------------------------
// Listen, connect, bind

both_flavors!(listen_connect_echo);
fn listen_connect_echo(flavor: Flavor) {
    run("echo", flavor, || async {
        let server = TcpSocket::new_v4().unwrap();
        server.set_reuseaddr(true).unwrap();
        server.bind(localhost(0)).unwrap();
        let addr = server.local_addr().unwrap();
        let listener = server.listen(16).unwrap();
        assert_eq!(listener.local_addr().unwrap(), addr);

        let echo = weft::spawn(async move {
            let (mut stream, peer) = listener.accept().await.unwrap();
            let mut buf = [0u8; 5];
            stream.read_exact(&mut buf).await.unwrap();
            stream.write_all(&buf).await.unwrap();
            peer
        });

        let client = TcpSocket::new_v4().unwrap();
        client.set_nodelay(true).unwrap();
        let mut stream = client.connect(addr).await.unwrap();
        assert!(stream.nodelay().unwrap(), "TCP_NODELAY set before connect was lost");
        assert_eq!(stream.peer_addr().unwrap(), addr);
        stream.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        assert_eq!(echo.await.unwrap(), stream.local_addr().unwrap());
    });
}

both_flavors!(ipv6_listen_connect);
fn ipv6_listen_connect(flavor: Flavor) {
    if !ipv6_loopback_available() {
        eprintln!("skipped: no IPv6 loopback");
        return;
    }
    run("ipv6", flavor, || async {
        let server = TcpSocket::new_v6().unwrap();
        server.bind(SocketAddr::from((Ipv6Addr::LOCALHOST, 0))).unwrap();
        let listener = server.listen(16).unwrap();
        let addr = listener.local_addr().unwrap();
        assert_eq!(addr.ip(), IpAddr::V6(Ipv6Addr::LOCALHOST));
        let stream = TcpSocket::new_v6().unwrap().connect(addr).await.unwrap();
        let (_, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, stream.local_addr().unwrap());
    });
}

both_flavors!(bind_port_zero_then_local_addr);
fn bind_port_zero_then_local_addr(flavor: Flavor) {
    run("local_addr", flavor, || async {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(localhost(0)).unwrap();
        let addr = socket.local_addr().unwrap();
        assert_eq!(addr.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_ne!(addr.port(), 0, "port 0 was not replaced by a real port");

        // A client may choose its local address before connecting.
        let listener = TcpListener::bind(localhost(0)).await.unwrap();
        let stream = socket.connect(listener.local_addr().unwrap()).await.unwrap();
        assert_eq!(stream.local_addr().unwrap(), addr);
        let (_, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, addr);
    });
}

both_flavors!(binding_a_taken_port_is_addr_in_use);
fn binding_a_taken_port_is_addr_in_use(flavor: Flavor) {
    run("addr_in_use", flavor, || async {
        let first = TcpSocket::new_v4().unwrap();
        first.bind(localhost(0)).unwrap();
        let addr = first.local_addr().unwrap();
        let _listener = first.listen(16).unwrap();

        let second = TcpSocket::new_v4().unwrap();
        let err = second.bind(addr).expect_err("bound a port a listener holds");
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
    });
}

// The server closes first, so its side of the connection stays bound to
// the port (FIN_WAIT/TIME_WAIT) after the listener is gone: with
// SO_REUSEADDR a new listener binds the port anyway.
both_flavors!(reuseaddr_binds_over_closing_connections);
fn reuseaddr_binds_over_closing_connections(flavor: Flavor) {
    run("reuseaddr", flavor, || async {
        let first = TcpSocket::new_v4().unwrap();
        first.set_reuseaddr(true).unwrap();
        first.bind(localhost(0)).unwrap();
        let addr = first.local_addr().unwrap();
        let listener = first.listen(16).unwrap();

        let mut client = TcpStream::connect(addr).await.unwrap();
        let (server_side, _) = listener.accept().await.unwrap();
        drop(server_side);
        let mut buf = [0u8; 1];
        assert_eq!(client.read(&mut buf).await.unwrap(), 0, "no end-of-file after close");
        drop(client);
        drop(listener);

        // Linux keeps the closing connection's port from a socket without
        // the option.
        #[cfg(target_os = "linux")]
        {
            let plain = TcpSocket::new_v4().unwrap();
            let err = plain.bind(addr).expect_err("rebound without SO_REUSEADDR");
            assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
        }

        let second = TcpSocket::new_v4().unwrap();
        second.set_reuseaddr(true).unwrap();
        assert!(second.reuseaddr().unwrap());
        second.bind(addr).expect("SO_REUSEADDR did not allow the rebind");
        let listener = second.listen(16).unwrap();
        let stream = TcpStream::connect(addr).await.unwrap();
        let (_, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, stream.local_addr().unwrap());
    });
}

both_flavors!(connect_to_a_closed_port_is_refused);
fn connect_to_a_closed_port_is_refused(flavor: Flavor) {
    run("refused", flavor, || async {
        let addr = closed_port();
        let err = TcpSocket::new_v4().unwrap().connect(addr).await.expect_err("connected");
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    });
}

#[cfg(unix)]
both_flavors!(raw_fd_and_std_stream_round_trip);
#[cfg(unix)]
fn raw_fd_and_std_stream_round_trip(flavor: Flavor) {
    use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
    run("raw_fd", flavor, || async {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_nodelay(true).unwrap();
        let fd = socket.into_raw_fd();
        // SAFETY: `fd` was just released by `into_raw_fd`; nothing else
        // owns it.
        let socket = unsafe { TcpSocket::from_raw_fd(fd) };
        assert_eq!(socket.as_raw_fd(), fd);
        assert!(socket.nodelay().unwrap(), "option lost through the raw fd");

        let fd = socket.into_raw_fd();
        // SAFETY: as above.
        let std_stream = unsafe { std::net::TcpStream::from_raw_fd(fd) };
        std_stream.set_nonblocking(false).unwrap();
        // `connect` must make the socket non-blocking again.
        let socket = TcpSocket::from_std_stream(std_stream);
        let listener = TcpListener::bind(localhost(0)).await.unwrap();
        let stream = socket.connect(listener.local_addr().unwrap()).await.unwrap();
        assert!(stream.nodelay().unwrap());
        // SAFETY: `F_GETFL` on a descriptor the stream owns and keeps open;
        // no memory is passed.
        let flags = unsafe { libc::fcntl(stream.as_raw_fd(), libc::F_GETFL) };
        assert!(flags & libc::O_NONBLOCK != 0, "connect made the socket non-blocking again");
        let (_, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, stream.local_addr().unwrap());
    });
}

#[test]
fn listen_and_connect_outside_a_runtime_fail_mentioning_the_runtime() {
    with_timeout("outside_runtime", 30, || {
        // Creating and configuring needs no runtime.
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(localhost(0)).unwrap();
        expect_no_runtime_failure("TcpSocket::listen", || Some(socket.listen(16)));

        // Something listens, so only the missing runtime can fail it.
        let std_listener = std::net::TcpListener::bind(localhost(0)).unwrap();
        let addr = std_listener.local_addr().unwrap();
        expect_no_runtime_failure("TcpSocket::connect", || {
            std_block_on(TcpSocket::new_v4().unwrap().connect(addr), Duration::from_secs(5))
        });
        // A closed port too: the runtime is checked before the network.
        let closed = closed_port();
        expect_no_runtime_failure("TcpSocket::connect (closed port)", || {
            std_block_on(TcpSocket::new_v4().unwrap().connect(closed), Duration::from_secs(5))
        });
    });
}

// ---------------------------------------------------------------------------
// lookup_host

both_flavors!(lookup_host_resolves_localhost_and_literals);
fn lookup_host_resolves_localhost_and_literals(flavor: Flavor) {
    run("lookup_host", flavor, || async {
        let addrs: Vec<SocketAddr> = lookup_host("localhost:80").await.unwrap().collect();
        let loopback = [IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)];
        assert!(addrs.iter().any(|a| loopback.contains(&a.ip())), "localhost gave {addrs:?}");
        assert!(addrs.iter().all(|a| a.port() == 80), "localhost gave {addrs:?}");

        let addrs: Vec<SocketAddr> = lookup_host(("localhost", 81)).await.unwrap().collect();
        assert!(addrs.iter().any(|a| loopback.contains(&a.ip())), "(localhost, 81): {addrs:?}");
        assert!(addrs.iter().all(|a| a.port() == 81), "(localhost, 81): {addrs:?}");

        let addrs: Vec<SocketAddr> = lookup_host("127.0.0.1:5").await.unwrap().collect();
        assert_eq!(addrs, [localhost(5)]);
        let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, 5));
        let addrs: Vec<SocketAddr> = lookup_host(v6).await.unwrap().collect();
        assert_eq!(addrs, [v6]);

        let err = lookup_host("localhost").await.err().expect("a host without a port resolved");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    });
}
