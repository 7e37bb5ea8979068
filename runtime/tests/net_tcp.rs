//! TCP behaviour: bytes survive many concurrent connections, half-close,
//! refused connections, the readiness API, readiness after a task moves to
//! another worker, fairness of an always-ready socket, and bad input.
//!
//! Only 127.0.0.1 and ::1 are used. Reads and writes go through the
//! sockets' `futures_io` impls, via futures-util's extension traits.

mod common;

use std::collections::HashSet;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{
    both_flavors, checksum, expect_no_runtime_failure, ipv6_loopback_available, runtime,
    std_block_on, wait_until_async, with_timeout, Flavor, XorShift, LONG,
};
use futures_channel::oneshot;
use futures_util::{AsyncReadExt, AsyncWriteExt};
use weft::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------
// Echo

const ECHO_CONNECTIONS: usize = 200;
const MAX_MESSAGE: usize = 64 * 1024;

/// Echoes until EOF, then closes the write side; returns the bytes echoed.
async fn echo(mut stream: TcpStream) -> io::Result<u64> {
    let mut buf = vec![0u8; 8 * 1024];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        stream.write_all(&buf[..n]).await?;
        total += n as u64;
    }
    stream.close().await?;
    Ok(total)
}

/// One client: writes a random buffer in random chunks from a writer task
/// while reading the echo back in random chunks; returns (len, checksum
/// sent, checksum received) after checking every byte.
async fn echo_client(addr: SocketAddr, seed: u64) -> io::Result<(usize, u64, u64)> {
    let mut rng = XorShift::new(seed);
    let len = rng.range(1, MAX_MESSAGE);
    let data = Arc::new(rng.bytes(len));
    let stream = TcpStream::connect(addr).await?;
    let (mut rd, mut wr) = stream.into_split();

    let to_send = data.clone();
    let writer = weft::spawn(async move {
        let mut rng = XorShift::new(seed ^ 0xDEAD_BEEF);
        let mut off = 0;
        while off < to_send.len() {
            let chunk = rng.range(1, 8 * 1024).min(to_send.len() - off);
            wr.write_all(&to_send[off..off + chunk]).await?;
            off += chunk;
            if rng.next_u64() % 8 == 0 {
                weft::task::yield_now().await;
            }
        }
        wr.close().await?;
        io::Result::Ok(wr)
    });

    let mut got = vec![0u8; len];
    let mut off = 0;
    while off < len {
        let chunk = rng.range(1, 8 * 1024).min(len - off);
        rd.read_exact(&mut got[off..off + chunk]).await?;
        off += chunk;
    }
    // The server closes its side after our close: EOF, nothing extra.
    let mut extra = [0u8; 16];
    let n = rd.read(&mut extra).await?;
    assert_eq!(n, 0, "connection {seed}: {n} bytes more than were sent came back");
    let _wr = writer.await.expect("writer task")?;

    if let Some(i) = (0..len).find(|&i| got[i] != data[i]) {
        panic!("connection {seed}: byte {i} of {len} corrupted: sent {}, got {}", data[i], got[i]);
    }
    Ok((len, checksum(&data), checksum(&got)))
}

fn run_echo(flavor: Flavor, bind: &'static str, connections: usize) -> (u64, u64) {
    let rt = flavor.build();
    let (sent, echoed) = rt.block_on(async move {
        let listener = TcpListener::bind(bind).await.expect("bind the echo listener");
        let addr = listener.local_addr().expect("listener address");
        let server = weft::spawn(async move {
            let mut handlers = Vec::with_capacity(connections);
            for _ in 0..connections {
                let (stream, _peer) = listener.accept().await.expect("accept");
                handlers.push(weft::spawn(echo(stream)));
            }
            let mut total = 0;
            for h in handlers {
                total += h.await.expect("echo task").expect("echo I/O");
            }
            total
        });
        let clients: Vec<_> =
            (0..connections as u64).map(|i| weft::spawn(echo_client(addr, i + 1))).collect();
        let mut sent = 0u64;
        for (i, c) in clients.into_iter().enumerate() {
            let (len, sum_sent, sum_got) = c.await.expect("client task").expect("client I/O");
            assert_eq!(sum_sent, sum_got, "connection {i}: checksum mismatch");
            sent += len as u64;
        }
        (sent, server.await.expect("server task"))
    });
    assert!(
        rt.block_on(wait_until_async(LONG, || rt.metrics().num_alive_tasks() == 0)),
        "tasks still alive after the echo: {}",
        rt.metrics().num_alive_tasks()
    );
    (sent, echoed)
}

both_flavors!(echo_200_concurrent_connections_random_sizes);
fn echo_200_concurrent_connections_random_sizes(flavor: Flavor) {
    let (sent, echoed) =
        with_timeout("echo_200", 60, move || run_echo(flavor, "127.0.0.1:0", ECHO_CONNECTIONS));
    assert_eq!(sent, echoed, "the server echoed a different byte count than was sent");
}

both_flavors!(echo_over_ipv6_loopback);
fn echo_over_ipv6_loopback(flavor: Flavor) {
    if !ipv6_loopback_available() {
        eprintln!("skipped: ::1 is not available here");
        return;
    }
    let (sent, echoed) = with_timeout("echo_ipv6", 60, move || run_echo(flavor, "[::1]:0", 20));
    assert_eq!(sent, echoed);
}

// ---------------------------------------------------------------------------
// Half-close

/// The client sends a request and shuts down its write side (`shutdown`, or
/// `poll_close` when `via_close`); the server reads to EOF, then still
/// writes a reply the client reads in full.
fn half_close(flavor: Flavor, via_close: bool) {
    let rt = flavor.build();
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let request = XorShift::new(7).bytes(100 * 1024 + 3);
        let expected_len = request.len();
        let server = weft::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut req = Vec::new();
            stream.read_to_end(&mut req).await.expect("server read to EOF");
            assert_eq!(req.len(), expected_len, "server got a truncated request");
            // The reply is written after the peer's FIN was read.
            let reply = XorShift::new(checksum(&req)).bytes(300 * 1024 + 11);
            stream.write_all(&reply).await.expect("server writes after the peer's FIN");
            stream.close().await.expect("server close");
            (checksum(&req), reply)
        });

        let mut client = TcpStream::connect(addr).await.expect("connect");
        client.write_all(&request).await.expect("client write");
        if via_close {
            client.close().await.expect("close the write side");
        } else {
            client.shutdown(Shutdown::Write).expect("shutdown(Write)");
        }
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).await.expect("client reads the reply");
        let (req_sum, sent_reply) = server.await.expect("server task");
        assert_eq!(req_sum, checksum(&request), "request corrupted");
        assert_eq!(reply.len(), sent_reply.len(), "reply truncated");
        assert!(reply == sent_reply, "reply corrupted");
    });
}

both_flavors!(half_close_with_shutdown_write_still_gets_the_reply);
fn half_close_with_shutdown_write_still_gets_the_reply(flavor: Flavor) {
    with_timeout("half_close_shutdown", 60, move || half_close(flavor, false));
}

both_flavors!(half_close_with_async_close_still_gets_the_reply);
fn half_close_with_async_close_still_gets_the_reply(flavor: Flavor) {
    with_timeout("half_close_close", 60, move || half_close(flavor, true));
}

// ---------------------------------------------------------------------------
// Errors

both_flavors!(connect_to_a_closed_port_is_refused, multi_thread = [1]);
fn connect_to_a_closed_port_is_refused(flavor: Flavor) {
    let err = with_timeout("refused", 30, move || {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let rt = flavor.build();
        rt.block_on(async move {
            match TcpStream::connect(("127.0.0.1", port)).await {
                Ok(_) => panic!("connected to a closed port {port}"),
                Err(e) => e,
            }
        })
    });
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err:?}");
}

both_flavors!(bind_to_an_address_in_use_is_addr_in_use, multi_thread = [1]);
fn bind_to_an_address_in_use_is_addr_in_use(flavor: Flavor) {
    with_timeout("addr_in_use", 30, move || {
        let rt = flavor.build();
        rt.block_on(async {
            let first = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = first.local_addr().unwrap();
            match TcpListener::bind(addr).await {
                Ok(_) => panic!("bound {addr} twice"),
                Err(e) => assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e:?}"),
            }
            // Held by a std listener this time.
            let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = std_listener.local_addr().unwrap();
            match TcpListener::bind(addr).await {
                Ok(_) => panic!("bound {addr}, held by a std listener"),
                Err(e) => assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e:?}"),
            }
            // The first listener still works.
            let client = std::net::TcpStream::connect(first.local_addr().unwrap()).unwrap();
            let (_s, peer) = first.accept().await.expect("accept");
            assert_eq!(peer, client.local_addr().unwrap());
        });
    });
}

#[test]
fn sockets_outside_a_runtime_fail_mentioning_the_runtime() {
    with_timeout("outside_runtime", 30, || {
        let limit = Duration::from_secs(5);
        expect_no_runtime_failure("TcpListener::bind", || {
            std_block_on(TcpListener::bind("127.0.0.1:0"), limit)
        });
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        expect_no_runtime_failure("TcpStream::connect", || {
            std_block_on(TcpStream::connect(addr), limit)
        });
    });
}

// ---------------------------------------------------------------------------
// Readiness API

both_flavors!(readable_writable_try_read_try_write_peek);
fn readable_writable_try_read_try_write_peek(flavor: Flavor) {
    with_timeout("readiness_api", 30, move || {
        let rt = flavor.build();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let mut peer = std::net::TcpStream::connect(addr).unwrap();
            let (stream, from) = listener.accept().await.unwrap();
            assert_eq!(from, peer.local_addr().unwrap());

            // Nothing to read yet.
            let mut buf = [0u8; 64];
            match stream.try_read(&mut buf) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                other => panic!("try_read on an empty socket: {other:?}"),
            }

            // writable + try_write.
            stream.writable().await.unwrap();
            let n = loop {
                match stream.try_write(b"ping") {
                    Ok(n) => break n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => stream.writable().await.unwrap(),
                    Err(e) => panic!("try_write: {e}"),
                }
            };
            assert_eq!(n, 4);
            let mut got = [0u8; 4];
            peer.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"ping");

            // A write from outside the runtime, seen through readable().
            let writer = thread::spawn(move || {
                thread::sleep(Duration::from_millis(30));
                peer.write_all(b"hello").unwrap();
                peer
            });
            // peek does not consume.
            let mut pbuf = [0u8; 5];
            let mut peeked = 0;
            while peeked < 5 {
                peeked = stream.peek(&mut pbuf).await.unwrap();
                if peeked < 5 {
                    weft::time::sleep(Duration::from_millis(1)).await;
                }
            }
            assert_eq!(&pbuf, b"hello");
            let mut got = Vec::new();
            while got.len() < 5 {
                stream.readable().await.unwrap();
                match stream.try_read(&mut buf) {
                    Ok(0) => panic!("EOF before the data"),
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => panic!("try_read: {e}"),
                }
            }
            assert_eq!(&got, b"hello", "peek consumed data or the read lost it");

            // EOF is reported as a 0-byte read after readable().
            let peer = writer.join().unwrap();
            drop(peer);
            loop {
                stream.readable().await.unwrap();
                match stream.try_read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => panic!("{n} unexpected bytes"),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => panic!("try_read at EOF: {e}"),
                }
            }
        });
    });
}

// ---------------------------------------------------------------------------
// Migration

const MIGRATION_MESSAGES: usize = 1000;
const MSG: usize = 64;

fn message(seq: usize) -> [u8; MSG] {
    let mut m = [0u8; MSG];
    m[..8].copy_from_slice(&(seq as u64).to_le_bytes());
    let mut rng = XorShift::new(seq as u64 + 1000);
    for b in &mut m[8..] {
        *b = rng.next_u64() as u8;
    }
    m
}

// Multi-thread only: the reader moving between workers is the point.
#[test]
fn reads_keep_completing_after_the_reader_migrates_between_workers() {
    let threads = with_timeout("migration", 60, || {
        let rt = runtime(2);
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let mut peer = std::net::TcpStream::connect(addr).unwrap();
            // Accepted in block_on: registered with a round-robin driver.
            let (mut stream, _) = listener.accept().await.unwrap();

            // A yield storm on both workers first, so the reader starts on
            // whichever worker is free.
            let storm: Vec<_> = (0..8)
                .map(|_| {
                    weft::spawn(async {
                        for _ in 0..200 {
                            weft::task::yield_now().await;
                        }
                    })
                })
                .collect();

            let writer = thread::spawn(move || {
                let mut rng = XorShift::new(99);
                let mut out = Vec::new();
                for seq in 0..MIGRATION_MESSAGES {
                    out.extend_from_slice(&message(seq));
                    // Bursts of a few messages, in odd splits, with pauses
                    // so the reader really waits on readiness.
                    if rng.next_u64() % 4 == 0 || seq + 1 == MIGRATION_MESSAGES {
                        let split = rng.range(0, out.len());
                        peer.write_all(&out[..split]).unwrap();
                        peer.flush().unwrap();
                        thread::sleep(Duration::from_micros(rng.range(0, 300) as u64));
                        peer.write_all(&out[split..]).unwrap();
                        out.clear();
                    }
                    if seq % 50 == 0 {
                        thread::sleep(Duration::from_millis(1));
                    }
                }
                peer
            });

            let reader = weft::spawn(async move {
                let mut seen = Vec::with_capacity(MIGRATION_MESSAGES);
                let mut buf = [0u8; MSG];
                for seq in 0..MIGRATION_MESSAGES {
                    stream.read_exact(&mut buf).await.expect("read a message");
                    seen.push(thread::current().id());
                    assert!(buf == message(seq), "message {seq} corrupted: {buf:?}");
                    if seq % 100 == 50 {
                        // Encourage a move: a task that blocks this worker
                        // goes in its LIFO slot while we yield to the back
                        // of its queue, where the idle sibling can steal us.
                        drop(weft::spawn(async {
                            thread::sleep(Duration::from_millis(10));
                        }));
                        weft::task::yield_now().await;
                    }
                }
                (seen, stream)
            });
            for s in storm {
                s.await.unwrap();
            }
            let (seen, stream) = reader.await.expect("reader task");
            let peer = writer.join().unwrap();
            drop(peer);
            let mut stream = stream;
            let mut extra = [0u8; 8];
            assert_eq!(stream.read(&mut extra).await.unwrap(), 0, "data past the end");
            seen.into_iter().collect::<HashSet<_>>().len()
        })
    });
    eprintln!("the reader ran on {threads} distinct worker thread(s)");
    if threads < 2 {
        eprintln!("note: no migration observed in this run (data integrity still checked)");
    }
}

// ---------------------------------------------------------------------------
// Fairness

const FLOOD_BYTES: u64 = 50 * 1024 * 1024;

/// On a 1-worker runtime (or current-thread) a task reads a socket that a std thread keeps full;
/// a task it spawns right after its first read must run before the reader
/// reaches EOF. Returns (bytes read when the other task ran, bytes total).
fn always_ready_socket(flavor: Flavor, use_readable: bool) -> (u64, u64) {
    let rt = flavor.build();
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut peer = std::net::TcpStream::connect(addr).unwrap();
        let (mut stream, _) = listener.accept().await.unwrap();
        let flood = thread::spawn(move || {
            let chunk = vec![0xA5u8; 64 * 1024];
            let mut sent = 0u64;
            while sent < FLOOD_BYTES {
                let n = (FLOOD_BYTES - sent).min(chunk.len() as u64) as usize;
                if peer.write_all(&chunk[..n]).is_err() {
                    break; // the reader gave up; its assertion says why
                }
                sent += n as u64;
            }
        });
        // Let the flood fill the socket buffers first.
        weft::time::sleep(Duration::from_millis(50)).await;

        let other_ran = Arc::new(AtomicBool::new(false));
        let read_when_other_ran = Arc::new(AtomicU64::new(u64::MAX));
        let total = Arc::new(AtomicU64::new(0));
        let reader = {
            let (other_ran, at, total) = (other_ran.clone(), read_when_other_ran.clone(), total);
            weft::spawn(async move {
                let mut buf = [0u8; 1024];
                let mut n_total = 0u64;
                let mut spawned = false;
                loop {
                    let n = if use_readable {
                        stream.readable().await.unwrap();
                        match stream.try_read(&mut buf) {
                            Ok(n) => n,
                            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                            Err(e) => panic!("try_read: {e}"),
                        }
                    } else {
                        stream.read(&mut buf).await.unwrap()
                    };
                    if n == 0 {
                        break;
                    }
                    n_total += n as u64;
                    total.store(n_total, Ordering::SeqCst);
                    if !spawned {
                        spawned = true;
                        let (other_ran, at, total) = (other_ran.clone(), at.clone(), total.clone());
                        drop(weft::spawn(async move {
                            at.store(total.load(Ordering::SeqCst), Ordering::SeqCst);
                            other_ran.store(true, Ordering::SeqCst);
                        }));
                    }
                }
                assert!(
                    other_ran.load(Ordering::SeqCst),
                    "the task spawned next to an always-ready reader never ran before it \
                     finished ({n_total} bytes read)"
                );
                n_total
            })
        };
        let total = reader.await.expect("reader task");
        flood.join().unwrap();
        (read_when_other_ran.load(Ordering::SeqCst), total)
    })
}

both_flavors!(an_always_ready_socket_does_not_starve_its_neighbour, multi_thread = [1]);
fn an_always_ready_socket_does_not_starve_its_neighbour(flavor: Flavor) {
    for use_readable in [false, true] {
        let (at, total) =
            with_timeout("always_ready", 60, move || always_ready_socket(flavor, use_readable));
        eprintln!("readable+try_read: {use_readable}: neighbour ran after {at} of {total} bytes");
        assert_eq!(total, FLOOD_BYTES, "the reader lost bytes");
        assert!(at < total, "the neighbour ran only after the reader's last read");
    }
}

// A task waiting in `accept` is woken when a std client connects later
// (on current-thread: while no thread is inside `block_on`).
both_flavors!(accept_wakes_when_a_std_client_connects_later);
fn accept_wakes_when_a_std_client_connects_later(flavor: Flavor) {
    with_timeout("accept_later", 30, move || {
        let rt = flavor.build();
        let (addr_tx, addr_rx) = oneshot::channel();
        let server = rt.spawn(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 3];
            s.read_exact(&mut buf).await.unwrap();
            buf
        });
        // Received in block_on, where a current-thread runtime runs the task.
        let addr = rt.block_on(async { weft::time::timeout(LONG, addr_rx).await });
        let addr = addr.expect("the server never bound").unwrap();
        thread::sleep(Duration::from_millis(50));
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(b"abc").unwrap();
        assert_eq!(&rt.block_on(server).unwrap(), b"abc");
    });
}
