//! Quick checks of the socket types: round trips, errors, half-close,
//! splitting, and use through generic `AsyncRead`/`AsyncWrite` code.

mod common;

use std::io::{ErrorKind, IoSlice};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use common::{both_flavors, Flavor};
use futures_util::{AsyncReadExt, AsyncWriteExt};
use weft::net::{TcpListener, TcpStream, UdpSocket};

/// Runs `fut` on a fresh runtime of `flavor`, failing the test if it takes
/// too long.
fn run<F: std::future::Future<Output = std::io::Result<()>> + Send + 'static>(
    flavor: Flavor,
    fut: F,
) {
    flavor.build().block_on(async {
        weft::time::timeout(Duration::from_secs(20), weft::spawn(fut))
            .await
            .expect("test timed out")
            .unwrap()
            .unwrap();
    });
}

both_flavors!(tcp_echo_round_trip);
fn tcp_echo_round_trip(flavor: Flavor) {
    run(flavor, async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = weft::spawn(async move {
            let (mut stream, peer) = listener.accept().await?;
            assert_eq!(peer, stream.peer_addr()?);
            let mut buf = vec![0; 64 * 1024];
            loop {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    return stream.close().await;
                }
                stream.write_all(&buf[..n]).await?;
            }
        });

        let mut client = TcpStream::connect(addr).await?;
        assert_eq!(client.peer_addr()?, addr);
        client.set_nodelay(true)?;
        assert!(client.nodelay()?);
        // Bigger than the socket buffers, so both sides wait for readiness.
        let data: Vec<u8> = (0..1_000_000u32).map(|i| i as u8).collect();
        // Spelled out: futures_util's `AsyncReadExt::split(self)` would win
        // over the inherent `split(&mut self)` in method-call syntax.
        let (mut rd, mut wr) = TcpStream::split(&mut client);
        let write = async {
            wr.write_all(&data).await?;
            wr.close().await
        };
        let mut back = Vec::new();
        let read = rd.read_to_end(&mut back);
        let (w, r) = futures_util::join!(write, read);
        w?;
        r?;
        assert!(back == data, "echoed bytes differ");
        server.await.unwrap()
    });
}

both_flavors!(connect_to_closed_port_is_refused);
fn connect_to_closed_port_is_refused(flavor: Flavor) {
    run(flavor, async {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        // The std listener is dropped: nothing listens there now.
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err:?}");
        // Several addresses: the last error comes back.
        let err = TcpStream::connect(&[addr, addr][..]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err:?}");
        Ok(())
    });
}

both_flavors!(connect_by_host_name);
fn connect_by_host_name(flavor: Flavor) {
    run(flavor, async {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        // "localhost" is resolved on the blocking pool; it may also yield
        // ::1, where nothing listens: connect tries each address.
        let stream = TcpStream::connect(format!("localhost:{port}")).await?;
        let (accepted, _) = listener.accept().await?;
        assert_eq!(stream.local_addr()?, accepted.peer_addr()?);
        Ok(())
    });
}

both_flavors!(half_close_then_reply);
fn half_close_then_reply(flavor: Flavor) {
    run(flavor, async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut client = TcpStream::connect(listener.local_addr()?).await?;
        let (mut server, _) = listener.accept().await?;

        client.write_all(b"request").await?;
        client.close().await?; // shutdown(Write)
        let mut got = Vec::new();
        server.read_to_end(&mut got).await?; // ends: the peer read EOF
        assert_eq!(got, b"request");
        server.write_all(b"response").await?; // the other direction still works
        server.shutdown(Shutdown::Write)?;
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).await?;
        assert_eq!(reply, b"response");
        Ok(())
    });
}

both_flavors!(owned_halves_across_tasks_and_reunite);
fn owned_halves_across_tasks_and_reunite(flavor: Flavor) {
    run(flavor, async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let client = TcpStream::connect(listener.local_addr()?).await?;
        let (mut server, _) = listener.accept().await?;

        let (mut rd, mut wr) = client.into_split();
        let writer = weft::spawn(async move {
            let bufs = [IoSlice::new(b"he"), IoSlice::new(b"llo")];
            let n = wr.write_vectored(&bufs).await?;
            wr.write_all(&b"hello"[n..]).await?;
            Ok::<_, std::io::Error>(wr)
        });
        let mut buf = [0; 5];
        server.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"hello");
        let wr = writer.await.unwrap()?;

        server.write_all(b"back").await?;
        let mut back = [0; 4];
        rd.read_exact(&mut back).await?;
        assert_eq!(&back, b"back");

        // Halves of different streams do not reunite.
        let other = TcpStream::connect(listener.local_addr()?).await?;
        let (other_rd, other_wr) = other.into_split();
        let err = rd.reunite(other_wr).unwrap_err();
        let (rd, other_wr) = (err.0, err.1);
        other_wr.forget();
        drop(other_rd);

        let stream = rd.reunite(wr).expect("same stream");
        // Reuniting did not shut the write side down.
        stream.writable().await?;
        assert_eq!(stream.try_write(b"!")?, 1);
        let mut bang = [0; 1];
        server.read_exact(&mut bang).await?;
        assert_eq!(&bang, b"!");

        // Dropping an owned write half shuts down writing: the peer reads EOF.
        let (rd, wr) = stream.into_split();
        drop(wr);
        let mut rest = Vec::new();
        server.read_to_end(&mut rest).await?;
        assert!(rest.is_empty());
        drop(rd);
        Ok(())
    });
}

both_flavors!(try_read_try_write_and_peek);
fn try_read_try_write_and_peek(flavor: Flavor) {
    run(flavor, async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let client = TcpStream::connect(listener.local_addr()?).await?;
        let (server, _) = listener.accept().await?;

        let mut buf = [0; 16];
        assert_eq!(server.try_read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        client.writable().await?;
        assert_eq!(client.try_write(b"abc")?, 3);

        let n = server.peek(&mut buf).await?;
        assert_eq!(&buf[..n], b"abc");
        let n = loop {
            server.readable().await?;
            match server.try_read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        };
        assert_eq!(&buf[..n], b"abc");
        Ok(())
    });
}

both_flavors!(std_conversions);
fn std_conversions(flavor: Flavor) {
    run(flavor, async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = std_listener.local_addr()?;
        let listener = TcpListener::from_std(std_listener)?;
        let std_client = std::net::TcpStream::connect(addr)?;
        let (accepted, _) = listener.accept().await?;
        let mut client = TcpStream::from_std(std_client)?;
        client.write_all(b"x").await?;

        let mut std_accepted = accepted.into_std()?;
        std_accepted.set_nonblocking(false)?;
        let mut byte = [0; 1];
        std::io::Read::read_exact(&mut std_accepted, &mut byte)?;
        assert_eq!(&byte, b"x");
        let std_listener = listener.into_std()?;
        assert_eq!(std_listener.local_addr()?, addr);
        Ok(())
    });
}

both_flavors!(udp_round_trip);
fn udp_round_trip(flavor: Flavor) {
    run(flavor, async {
        let a = UdpSocket::bind("127.0.0.1:0").await?;
        let b = UdpSocket::bind("127.0.0.1:0").await?;
        let (a_addr, b_addr) = (a.local_addr()?, b.local_addr()?);

        assert_eq!(a.send_to(b"one", b_addr).await?, 3);
        let mut buf = [0; 32];
        let (n, from) = b.peek_from(&mut buf).await?;
        assert_eq!((&buf[..n], from), (&b"one"[..], a_addr));
        let (n, from) = b.recv_from(&mut buf).await?;
        assert_eq!((&buf[..n], from), (&b"one"[..], a_addr));
        assert_eq!(b.try_recv_from(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);

        a.connect(b_addr).await?;
        b.connect(a_addr).await?;
        assert_eq!(a.peer_addr()?, b_addr);
        b.send(b"two").await?;
        let n = a.recv(&mut buf).await?;
        assert_eq!(&buf[..n], b"two");
        Ok(())
    });
}

both_flavors!(udp_ipv6_loopback);
fn udp_ipv6_loopback(flavor: Flavor) {
    run(flavor, async {
        let a = match UdpSocket::bind("[::1]:0").await {
            Ok(socket) => socket,
            Err(_) => return Ok(()), // no IPv6 on this machine
        };
        let b = UdpSocket::bind(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0))).await?;
        a.send_to(b"v6", b.local_addr()?).await?;
        let mut buf = [0; 8];
        let (n, from) = b.recv_from(&mut buf).await?;
        assert_eq!((&buf[..n], from), (&b"v6"[..], a.local_addr()?));
        Ok(())
    });
}

#[cfg(unix)]
mod unix {
    use super::*;
    use weft::net::{UnixDatagram, UnixListener, UnixStream};

    /// A fresh path for `name`, distinct per flavor (both run at once).
    fn socket_path(flavor: Flavor, name: &str) -> std::path::PathBuf {
        let flavor = if flavor.is_current_thread() { "ct" } else { "mt" };
        let file = format!("weft-smoke-{}-{flavor}-{name}.sock", std::process::id());
        let path = std::env::temp_dir().join(file);
        let _ = std::fs::remove_file(&path);
        path
    }

    both_flavors!(unix_stream_pair_round_trip);
    fn unix_stream_pair_round_trip(flavor: Flavor) {
        run(flavor, async {
            let (mut a, mut b) = UnixStream::pair()?;
            a.write_all(b"ping").await?;
            let mut buf = [0; 4];
            b.read_exact(&mut buf).await?;
            assert_eq!(&buf, b"ping");
            b.write_all(b"pong").await?;
            b.close().await?;
            let mut got = Vec::new();
            a.read_to_end(&mut got).await?;
            assert_eq!(got, b"pong");
            Ok(())
        });
    }

    both_flavors!(unix_listener_connect_and_split);
    fn unix_listener_connect_and_split(flavor: Flavor) {
        let path = socket_path(flavor, "listener");
        let p = path.clone();
        run(flavor, async move {
            let listener = UnixListener::bind(&p)?;
            assert_eq!(listener.local_addr()?.as_pathname(), Some(p.as_path()));
            let client = UnixStream::connect(&p).await?;
            let (mut server, _) = listener.accept().await?;
            assert_eq!(client.peer_addr()?.as_pathname(), Some(p.as_path()));

            let (mut rd, mut wr) = client.into_split();
            wr.write_all(b"over").await?;
            drop(wr); // shuts down writing
            let mut got = Vec::new();
            server.read_to_end(&mut got).await?;
            assert_eq!(got, b"over");
            server.write_all(b"and out").await?;
            drop(server);
            let mut reply = String::new();
            rd.read_to_string(&mut reply).await?;
            assert_eq!(reply, "and out");
            Ok(())
        });
        std::fs::remove_file(&path).unwrap();
    }

    both_flavors!(unix_connect_to_missing_path_fails);
    fn unix_connect_to_missing_path_fails(flavor: Flavor) {
        let path = socket_path(flavor, "missing");
        run(flavor, async move {
            let err = UnixStream::connect(&path).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
            Ok(())
        });
    }

    both_flavors!(unix_datagram_round_trip);
    fn unix_datagram_round_trip(flavor: Flavor) {
        let (pa, pb) = (socket_path(flavor, "dgram-a"), socket_path(flavor, "dgram-b"));
        let (a_path, b_path) = (pa.clone(), pb.clone());
        run(flavor, async move {
            let a = UnixDatagram::bind(&a_path)?;
            let b = UnixDatagram::bind(&b_path)?;
            a.send_to(b"hi", &b_path).await?;
            let mut buf = [0; 8];
            let (n, from) = b.recv_from(&mut buf).await?;
            assert_eq!(&buf[..n], b"hi");
            assert_eq!(from.as_pathname(), Some(a_path.as_path()));

            let (x, y) = UnixDatagram::pair()?;
            x.send(b"pair").await?;
            let n = y.recv(&mut buf).await?;
            assert_eq!(&buf[..n], b"pair");

            let unbound = UnixDatagram::unbound()?;
            unbound.connect(&b_path)?;
            unbound.send(b"u").await?;
            let n = b.recv(&mut buf).await?;
            assert_eq!(&buf[..n], b"u");
            Ok(())
        });
        std::fs::remove_file(&pa).unwrap();
        std::fs::remove_file(&pb).unwrap();
    }
}

#[test]
fn sockets_need_a_runtime() {
    let err = futures_executor_block_on(UdpSocket::bind("127.0.0.1:0")).unwrap_err();
    assert!(err.to_string().contains("no weft runtime"), "{err}");
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = TcpListener::from_std(std_listener).unwrap_err();
    assert!(err.to_string().contains("no weft runtime"), "{err}");
}

/// Polls `fut` to completion on this thread, outside any weft runtime.
fn futures_executor_block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

both_flavors!(many_concurrent_echo_connections);
fn many_concurrent_echo_connections(flavor: Flavor) {
    run(flavor, async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        weft::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                weft::spawn(async move {
                    let (mut rd, mut wr) = stream.into_split();
                    futures_util::io::copy(&mut rd, &mut wr).await
                });
            }
        });
        let clients: Vec<_> = (0..64u8)
            .map(|i| {
                weft::spawn(async move {
                    let mut stream = TcpStream::connect(addr).await?;
                    let msg = vec![i; 10_000];
                    stream.write_all(&msg).await?;
                    let mut back = vec![0; msg.len()];
                    stream.read_exact(&mut back).await?;
                    assert_eq!(back, msg);
                    Ok::<(), std::io::Error>(())
                })
            })
            .collect();
        for client in clients {
            client.await.unwrap()?;
        }
        Ok(())
    });
}
