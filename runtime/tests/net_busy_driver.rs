//! The driver of a worker blocked in a long synchronous call is still
//! served: readiness of a socket registered with that worker's driver
//! reaches the task waiting on it (running on the idle sibling) promptly.
//!
//! Kept in its own test binary so no spinning test of another file shares the
//! machine's cores with its one timed assertion.

mod common;

use std::future::poll_fn;
use std::io::{ErrorKind, Write};
use std::pin::Pin;
use std::sync::mpsc;
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use common::{watcher_only_runtime, with_timeout, LONG};
use futures_io::AsyncRead;
use weft::net::TcpListener;
use weft::runtime::Runtime;

const BLOCK: Duration = Duration::from_millis(300);
const WRITE_AFTER: Duration = Duration::from_millis(50);
const BOUND: Duration = Duration::from_millis(20);
const PAYLOAD: &[u8] = b"ping from outside the runtime";

#[derive(Debug)]
struct Round {
    /// From the write to R's read returning the data.
    latency: Duration,
    /// From T's block to R's first poll (R waits in W's LIFO slot until
    /// the idle sibling takes it).
    r_started: Duration,
    /// R started waiting before the write (so it waited on readiness).
    r_waited: bool,
    /// The thread R read on differs from W's.
    r_off_w: bool,
    via: &'static str,
}

/// One round: task T accepts a connection (so the stream registers with
/// the driver of T's worker W), spawns reader R with it, then blocks W for
/// 300 ms. 50 ms into the block, this (non-runtime) thread writes to the
/// peer socket; R must get the data soon after.
fn round(rt: &Runtime, use_async_read: bool) -> Round {
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().unwrap();
    // Completes through the backlog; T's accept picks it up.
    let mut peer = std::net::TcpStream::connect(addr).expect("connect");
    peer.set_nodelay(true).unwrap();

    let (blocked_tx, blocked_rx) = mpsc::channel::<(Instant, ThreadId)>();
    let (got_tx, got_rx) = mpsc::channel::<(Instant, Instant, ThreadId, Vec<u8>)>();
    drop(rt.spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        // The stream was created here, on W: its source is in W's driver.
        let w = thread::current().id();
        drop(listener);
        drop(weft::spawn(async move {
            let mut stream = stream;
            let started = Instant::now();
            let mut buf = [0u8; 64];
            let n = if use_async_read {
                poll_fn(|cx| Pin::new(&mut stream).poll_read(cx, &mut buf)).await.expect("read")
            } else {
                loop {
                    stream.readable().await.expect("readable");
                    match stream.try_read(&mut buf) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                        Err(e) => panic!("try_read: {e}"),
                    }
                }
            };
            let got = Instant::now();
            got_tx.send((started, got, thread::current().id(), buf[..n].to_vec())).unwrap();
        }));
        blocked_tx.send((Instant::now(), w)).unwrap();
        // A long synchronous call that blocks W (R sits in W's LIFO slot
        // until the idle sibling takes it).
        thread::sleep(BLOCK);
    }));

    let (t0, w) = blocked_rx.recv_timeout(LONG).expect("task T never ran");
    let write_at = t0 + WRITE_AFTER;
    thread::sleep(write_at.saturating_duration_since(Instant::now()));
    let written = Instant::now();
    peer.write_all(PAYLOAD).expect("write to the peer socket");

    let (started, got, r_thread, data) = got_rx.recv_timeout(LONG).expect("R never got the data");
    assert_eq!(data, PAYLOAD, "R read something else");
    drop(peer);
    Round {
        latency: got.saturating_duration_since(written),
        r_started: started.saturating_duration_since(t0),
        r_waited: started < written,
        r_off_w: r_thread != w,
        via: if use_async_read { "AsyncRead" } else { "readable+try_read" },
    }
}

// Multi-thread only: an idle sibling serving a blocked worker's driver.
#[test]
fn readiness_in_a_blocked_workers_driver_reaches_the_reader_on_time() {
    // The timed assertion: with 2 workers, R gets data written 50 ms into
    // W's 300 ms block within 20 ms of the write (not when W comes back).
    let rounds = with_timeout("busy_driver", 60, || {
        let rt = watcher_only_runtime(2);
        let mut rounds = Vec::new();
        for i in 0..3 {
            // Let both workers go idle (and W finish its blocking call).
            thread::sleep(Duration::from_millis(400));
            rounds.push(round(&rt, i != 1));
        }
        rounds
    });
    eprintln!("busy-driver rounds: {rounds:#?}");
    for (i, r) in rounds.iter().enumerate() {
        assert!(
            r.latency < BOUND,
            "round {i} ({}): R got the data {:?} after the write while the driver's worker \
             was blocked (R first polled {:?} into the block; R waited before the write: {}; \
             R on another thread: {})",
            r.via,
            r.latency,
            r.r_started,
            r.r_waited,
            r.r_off_w
        );
    }
}
