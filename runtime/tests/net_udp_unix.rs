//! UDP and Unix-domain sockets: round trips with every byte checked
//! (send_to/recv_from, connect/send/recv, peek_from; Unix listener and
//! pair streams; Unix datagrams over pair() and bound paths), and bad input.
//!
//! Only 127.0.0.1, ::1 and paths in a fresh temporary directory are used.

mod common;

use std::io::ErrorKind;
use std::path::Path;
use std::time::Duration;

use common::{
    both_flavors, expect_no_runtime_failure, std_block_on, with_timeout, Flavor, TempDir, XorShift,
};
use futures_util::{AsyncReadExt, AsyncWriteExt};
use weft::net::{UdpSocket, UnixDatagram, UnixListener, UnixStream};
use weft::time::timeout;

// ---------------------------------------------------------------------------
// Helpers

/// Bounds a receive so a lost datagram fails the test instead of hanging.
const RECV_LIMIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// UDP

const UDP_ROUNDS: usize = 200;

/// A client sends `UDP_ROUNDS` datagrams of random sizes with `send_to`; an
/// echo task on another socket answers each with `send_to` to the address
/// `recv_from` reported.
fn udp_echo(flavor: Flavor, bind: &'static str) {
    let rt = flavor.build();
    rt.block_on(async move {
        let server = UdpSocket::bind(bind).await.expect("bind server");
        let client = UdpSocket::bind(bind).await.expect("bind client");
        let server_addr = server.local_addr().unwrap();
        let client_addr = client.local_addr().unwrap();
        assert_ne!(server_addr.port(), 0);

        let echo = weft::spawn(async move {
            let mut buf = vec![0u8; 65536];
            for _ in 0..UDP_ROUNDS {
                let (n, from) = timeout(RECV_LIMIT, server.recv_from(&mut buf))
                    .await
                    .expect("server: a datagram was lost")
                    .expect("recv_from");
                assert_eq!(from, client_addr, "recv_from reported the wrong sender");
                let sent = server.send_to(&buf[..n], from).await.expect("send_to");
                assert_eq!(sent, n);
            }
        });

        let mut rng = XorShift::new(5);
        let mut buf = vec![0u8; 65536];
        for i in 0..UDP_ROUNDS {
            let msg = rng.random_bytes(16 * 1024);
            assert_eq!(client.send_to(&msg, server_addr).await.expect("send_to"), msg.len());
            let (n, from) = timeout(RECV_LIMIT, client.recv_from(&mut buf))
                .await
                .expect("client: an echo was lost")
                .expect("recv_from");
            assert_eq!(from, server_addr);
            assert_eq!(n, msg.len(), "datagram {i} truncated");
            assert!(buf[..n] == msg[..], "datagram {i} corrupted");
        }
        echo.await.expect("echo task");
    });
}

both_flavors!(udp_send_to_recv_from_round_trip);
fn udp_send_to_recv_from_round_trip(flavor: Flavor) {
    with_timeout("udp_send_to", 60, move || udp_echo(flavor, "127.0.0.1:0"));
}

both_flavors!(udp_round_trip_over_ipv6_loopback);
fn udp_round_trip_over_ipv6_loopback(flavor: Flavor) {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("skipped: ::1 is not available here");
        return;
    }
    with_timeout("udp_ipv6", 60, move || udp_echo(flavor, "[::1]:0"));
}

both_flavors!(udp_connect_send_recv_round_trip);
fn udp_connect_send_recv_round_trip(flavor: Flavor) {
    with_timeout("udp_connect", 60, move || {
        let rt = flavor.build();
        rt.block_on(async {
            let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
            a.connect(b_addr).await.expect("connect a");
            b.connect(a_addr).await.expect("connect b");

            let echo = weft::spawn(async move {
                let mut buf = vec![0u8; 65536];
                for _ in 0..100 {
                    let n = timeout(RECV_LIMIT, b.recv(&mut buf)).await.expect("lost").unwrap();
                    assert_eq!(b.send(&buf[..n]).await.unwrap(), n);
                }
            });
            let mut rng = XorShift::new(11);
            let mut buf = vec![0u8; 65536];
            for i in 0..100 {
                let msg = rng.random_bytes(8 * 1024);
                assert_eq!(a.send(&msg).await.unwrap(), msg.len());
                let n = timeout(RECV_LIMIT, a.recv(&mut buf)).await.expect("lost").unwrap();
                assert!(buf[..n] == msg[..], "datagram {i} corrupted");
            }
            echo.await.unwrap();
        });
    });
}

both_flavors!(udp_peek_from_does_not_consume);
fn udp_peek_from_does_not_consume(flavor: Flavor) {
    with_timeout("udp_peek", 30, move || {
        let rt = flavor.build();
        rt.block_on(async {
            let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());

            // The peek waits for a datagram that a task sends a bit later.
            let sender = weft::spawn(async move {
                weft::time::sleep(Duration::from_millis(20)).await;
                a.send_to(b"peek me", b_addr).await.unwrap();
                a.send_to(b"second", b_addr).await.unwrap();
                a
            });
            let mut buf = [0u8; 64];
            for _ in 0..2 {
                let (n, from) =
                    timeout(RECV_LIMIT, b.peek_from(&mut buf)).await.expect("lost").unwrap();
                assert_eq!((&buf[..n], from), (&b"peek me"[..], a_addr));
            }
            let (n, from) = b.recv_from(&mut buf).await.unwrap();
            assert_eq!((&buf[..n], from), (&b"peek me"[..], a_addr));
            let (n, _) = timeout(RECV_LIMIT, b.peek_from(&mut buf)).await.expect("lost").unwrap();
            assert_eq!(&buf[..n], b"second");
            let (n, _) = b.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"second");
            drop(sender.await.unwrap());
        });
    });
}

both_flavors!(udp_bind_to_an_address_in_use_is_addr_in_use, multi_thread = [1]);
fn udp_bind_to_an_address_in_use_is_addr_in_use(flavor: Flavor) {
    with_timeout("udp_addr_in_use", 30, move || {
        let rt = flavor.build();
        rt.block_on(async {
            let first = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let addr = first.local_addr().unwrap();
            match UdpSocket::bind(addr).await {
                Ok(_) => panic!("bound {addr} twice"),
                Err(e) => assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e:?}"),
            }
        });
    });
}

// ---------------------------------------------------------------------------
// Unix streams

both_flavors!(unix_listener_round_trip_with_half_close);
fn unix_listener_round_trip_with_half_close(flavor: Flavor) {
    with_timeout("unix_listener", 60, move || {
        let dir = TempDir::new("listener");
        let path = dir.path("sock");
        let rt = flavor.build();
        rt.block_on(async move {
            let listener = UnixListener::bind(&path).expect("bind a unix listener");
            let request = XorShift::new(3).bytes(256 * 1024 + 7);
            let req_len = request.len();
            let server = weft::spawn(async move {
                let (mut s, _addr) = listener.accept().await.expect("accept");
                let mut req = Vec::new();
                s.read_to_end(&mut req).await.expect("server read to EOF");
                assert_eq!(req.len(), req_len);
                // Reply after EOF: the request reversed.
                req.reverse();
                s.write_all(&req).await.expect("server write after the peer's FIN");
                s.close().await.unwrap();
            });
            let mut client = UnixStream::connect(&path).await.expect("connect");
            client.write_all(&request).await.unwrap();
            client.close().await.expect("close the write side");
            let mut reply = Vec::new();
            client.read_to_end(&mut reply).await.expect("read the reply");
            server.await.unwrap();
            let mut expected = request;
            expected.reverse();
            assert_eq!(reply.len(), expected.len(), "reply truncated");
            assert!(reply == expected, "reply corrupted");
        });
    });
}

both_flavors!(unix_stream_pair_round_trip);
fn unix_stream_pair_round_trip(flavor: Flavor) {
    with_timeout("unix_pair", 60, move || {
        let rt = flavor.build();
        rt.block_on(async {
            let (mut a, mut b) = UnixStream::pair().expect("pair");
            let echo = weft::spawn(async move {
                let mut buf = vec![0u8; 4096];
                loop {
                    let n = b.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    b.write_all(&buf[..n]).await.unwrap();
                }
            });
            let mut rng = XorShift::new(17);
            for i in 0..50 {
                let msg = rng.random_bytes(32 * 1024);
                a.write_all(&msg).await.unwrap();
                let mut got = vec![0u8; msg.len()];
                a.read_exact(&mut got).await.unwrap();
                assert!(got == msg, "message {i} corrupted");
            }
            a.close().await.unwrap();
            echo.await.unwrap();
        });
    });
}

both_flavors!(unix_listener_bind_to_a_used_path_is_addr_in_use, multi_thread = [1]);
fn unix_listener_bind_to_a_used_path_is_addr_in_use(flavor: Flavor) {
    with_timeout("unix_addr_in_use", 30, move || {
        let dir = TempDir::new("inuse");
        let path = dir.path("sock");
        let rt = flavor.build();
        rt.block_on(async move {
            let _first = UnixListener::bind(&path).expect("bind");
            match UnixListener::bind(&path) {
                Ok(_) => panic!("bound {} twice", path.display()),
                Err(e) => assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e:?}"),
            }
        });
    });
}

// ---------------------------------------------------------------------------
// Unix datagrams

both_flavors!(unix_datagram_pair_round_trip);
fn unix_datagram_pair_round_trip(flavor: Flavor) {
    with_timeout("unix_dgram_pair", 30, move || {
        let rt = flavor.build();
        rt.block_on(async {
            let (a, b) = UnixDatagram::pair().expect("pair");
            let echo = weft::spawn(async move {
                let mut buf = vec![0u8; 65536];
                for _ in 0..100 {
                    let n = timeout(RECV_LIMIT, b.recv(&mut buf)).await.expect("lost").unwrap();
                    assert_eq!(b.send(&buf[..n]).await.unwrap(), n);
                }
            });
            let mut rng = XorShift::new(23);
            let mut buf = vec![0u8; 65536];
            for i in 0..100 {
                let msg = rng.random_bytes(16 * 1024);
                assert_eq!(a.send(&msg).await.unwrap(), msg.len());
                let n = timeout(RECV_LIMIT, a.recv(&mut buf)).await.expect("lost").unwrap();
                assert_eq!(n, msg.len(), "datagram {i} truncated");
                assert!(buf[..n] == msg[..], "datagram {i} corrupted");
            }
            echo.await.unwrap();
        });
    });
}

fn assert_from(addr_path: Option<&Path>, expected: &Path) {
    assert_eq!(addr_path, Some(expected), "recv_from reported the wrong sender path");
}

both_flavors!(unix_datagram_bound_paths_round_trip);
fn unix_datagram_bound_paths_round_trip(flavor: Flavor) {
    with_timeout("unix_dgram_paths", 30, move || {
        let dir = TempDir::new("dgram");
        let (pa, pb) = (dir.path("a"), dir.path("b"));
        let rt = flavor.build();
        rt.block_on(async move {
            let a = UnixDatagram::bind(&pa).expect("bind a");
            let b = UnixDatagram::bind(&pb).expect("bind b");
            let (pa2, pb2) = (pa.clone(), pb.clone());
            let echo = weft::spawn(async move {
                let mut buf = vec![0u8; 65536];
                for _ in 0..50 {
                    let (n, from) =
                        timeout(RECV_LIMIT, b.recv_from(&mut buf)).await.expect("lost").unwrap();
                    assert_from(from.as_pathname(), &pa2);
                    assert_eq!(b.send_to(&buf[..n], &pa2).await.unwrap(), n);
                }
            });
            let mut rng = XorShift::new(29);
            let mut buf = vec![0u8; 65536];
            for i in 0..50 {
                let msg = rng.random_bytes(16 * 1024);
                assert_eq!(a.send_to(&msg, &pb2).await.unwrap(), msg.len());
                let (n, from) =
                    timeout(RECV_LIMIT, a.recv_from(&mut buf)).await.expect("lost").unwrap();
                assert_from(from.as_pathname(), &pb2);
                assert!(buf[..n] == msg[..], "datagram {i} corrupted");
            }
            echo.await.unwrap();
        });
    });
}

// ---------------------------------------------------------------------------
// Outside a runtime

#[test]
fn udp_and_unix_sockets_outside_a_runtime_fail_mentioning_the_runtime() {
    with_timeout("outside_runtime", 30, || {
        let limit = Duration::from_secs(5);
        expect_no_runtime_failure("UdpSocket::bind", || {
            std_block_on(UdpSocket::bind("127.0.0.1:0"), limit)
        });
        expect_no_runtime_failure("UnixStream::pair", || Some(UnixStream::pair()));
        expect_no_runtime_failure("UnixDatagram::pair", || Some(UnixDatagram::pair()));
        let dir = TempDir::new("outside");
        let path = dir.path("sock");
        expect_no_runtime_failure("UnixListener::bind", || Some(UnixListener::bind(&path)));
    });
}

// ---------------------------------------------------------------------------
// ready(Interest)

both_flavors!(ready_reports_each_side_on_udp_and_unix_sockets);
fn ready_reports_each_side_on_udp_and_unix_sockets(flavor: Flavor) {
    use weft::io::Interest;
    with_timeout("ready(Interest)", 30, move || {
        flavor.build().block_on(async {
            let both = Interest::READABLE | Interest::WRITABLE;

            let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            a.connect(b.local_addr().unwrap()).await.unwrap();
            b.connect(a.local_addr().unwrap()).await.unwrap();
            assert!(a.ready(Interest::WRITABLE).await.unwrap().is_writable());
            a.try_send(b"udp").unwrap();
            let ready = b.ready(Interest::READABLE).await.unwrap();
            assert!(ready.is_readable() && !ready.is_writable(), "{ready:?}");
            let mut buf = [0u8; 8];
            assert_eq!(b.try_recv(&mut buf).unwrap(), 3);
            assert!(b.ready(both).await.unwrap().is_writable());

            let (x, y) = UnixDatagram::pair().unwrap();
            // `try_*` go by cached readiness: wait for it first.
            assert!(x.ready(Interest::WRITABLE).await.unwrap().is_writable());
            x.try_send(b"dgram").unwrap();
            assert!(y.ready(Interest::READABLE).await.unwrap().is_readable());
            assert_eq!(y.try_recv(&mut buf).unwrap(), 5);

            let (mut s, t) = UnixStream::pair().unwrap();
            assert!(s.ready(Interest::WRITABLE).await.unwrap().is_writable());
            s.write_all(b"stream").await.unwrap();
            // Either side: `t` is writable at once, so `both` may say only
            // that; the read side is asked alone.
            assert!(!t.ready(both).await.unwrap().is_empty());
            assert!(t.ready(Interest::READABLE).await.unwrap().is_readable());
            assert_eq!(t.try_read(&mut buf).unwrap(), 6);
            drop(s);
            // The peer's end shows as read-closed once its event is in.
            let mut closed = false;
            for _ in 0..2000 {
                if t.ready(Interest::READABLE).await.unwrap().is_read_closed() {
                    closed = true;
                    break;
                }
                weft::time::sleep(Duration::from_millis(1)).await;
            }
            assert!(closed, "the peer's close was never reported");
        });
    });
}
