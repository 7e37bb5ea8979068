//! Helpers shared by the networking examples (`chat`, `c10k`, `echo`,
//! `overload`, `tour`): byte counts and latencies for printing, the
//! servers' stop signal and shutdown, the checked round trip of the echo
//! clients, and a CPU job. The process
//! figures they print (memory, threads, the open-file limit) come from the
//! workspace's `weft-dev-support` crate, which the benches use too.

// Each example uses only some of these helpers.
#![allow(dead_code)]

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::task::Poll;
use std::time::Duration;

use futures_util::{AsyncReadExt, AsyncWriteExt};
use weft::net::TcpStream;
use weft::signal::unix::{signal, SignalKind};
use weft::task::JoinSet;

/// Bytes of one message of the echo clients (`echo`'s built-in load and
/// `tour`'s clients).
pub const MESSAGE_LEN: usize = 64;
/// Echo clients that connect at once. The listen backlog (how many accepted
/// handshakes the kernel queues for `accept`) is 128: a bigger burst of
/// connects overflows it, and the kernel drops handshakes, which the
/// clients retry only after a second.
pub const WAVE: usize = 100;

/// `bytes` in MiB with one decimal.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// `bytes` in KiB with one decimal.
pub fn kib(bytes: f64) -> String {
    format!("{:.1} KiB", bytes / 1024.0)
}

/// `d` in milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// A histogram's percentile (`weft::runtime::Histogram::percentile`): the
/// upper end of a bucket, or of the last, open-ended one.
pub fn bound(d: Duration) -> String {
    if d == Duration::MAX {
        "over 1 s".into()
    } else {
        format!("<= {}", ms(d))
    }
}

/// The `q`-quantile (0 to 1) of `sorted`, zero if it is empty.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    match sorted.len() {
        0 => Duration::ZERO,
        n => sorted[((n - 1) as f64 * q).round() as usize],
    }
}

/// FNV-1a over `data`: plain CPU work that never yields.
pub fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A server's shutdown: aborts the connection tasks still in `tasks` and
/// waits (at most 5 s) until they are dropped, which closes their sockets.
/// Returns how many were still open.
pub async fn close_all(tasks: &mut JoinSet<()>) -> usize {
    while tasks.try_join_next().is_some() {} // the ended ones
    let open = tasks.len();
    let _ = weft::time::timeout(Duration::from_secs(5), tasks.shutdown()).await;
    open
}

/// Starts listening for `SIGINT` (Ctrl-C) and `SIGTERM` now; the future
/// completes at the first of them, with its name. (It would also complete
/// if the runtime shut down, which ends the program anyway.)
pub fn stop_signal() -> io::Result<impl Future<Output = &'static str>> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(poll_fn(move |cx| {
        if interrupt.poll_recv(cx).is_ready() {
            Poll::Ready("SIGINT (Ctrl-C)")
        } else if terminate.poll_recv(cx).is_ready() {
            Poll::Ready("SIGTERM")
        } else {
            Poll::Pending
        }
    }))
}

/// Sends message `i` of echo client `id` on `stream`, reads the echo and
/// checks it.
pub async fn round_trip(stream: &mut TcpStream, id: usize, i: usize) -> io::Result<()> {
    let mut sent = [0; MESSAGE_LEN];
    for (j, byte) in sent.iter_mut().enumerate() {
        *byte = (id + i + j) as u8;
    }
    stream.write_all(&sent).await?;
    let mut back = [0; MESSAGE_LEN];
    stream.read_exact(&mut back).await?;
    if back != sent {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "echo differs from message"));
    }
    Ok(())
}

/// Connects `n` echo clients to `addr` in waves of [`WAVE`], each client
/// making one round trip (proof that the server accepted it) before the
/// next wave starts. Client `id` is the `id`th stream returned.
pub async fn connect_in_waves(addr: SocketAddr, n: usize) -> io::Result<Vec<TcpStream>> {
    let mut streams = Vec::with_capacity(n);
    while streams.len() < n {
        let ids = streams.len()..n.min(streams.len() + WAVE);
        let wave: Vec<_> = ids.map(|id| weft::spawn(connect(addr, id))).collect();
        for task in wave {
            streams.push(task.await.expect("connect task panicked")?);
        }
    }
    Ok(streams)
}

/// Connects echo client `id` and makes its first round trip.
async fn connect(addr: SocketAddr, id: usize) -> io::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr).await?;
    round_trip(&mut stream, id, 0).await?;
    Ok(stream)
}
