//! Stall detection: a handler that blocks by mistake, the report that names
//! it, and what the rescue does for every other request.
//!
//! A small line-protocol server runs on a 2-worker runtime, on 127.0.0.1.
//! A request is one 22-byte line, `FAST <16 digits>\n` or `SLOW <16
//! digits>\n`, and the reply is the same line. The `FAST` handler answers
//! at once; the `SLOW` handler has the mistake this example is about: it
//! calls a blocking function (`std::thread::sleep` for 500 ms, standing in
//! for a synchronous database driver or a file lock) inside async code, so
//! the worker polling it can do nothing else for half a second. Beside the
//! server, four background jobs checksum a buffer in 4 KiB chunks,
//! `yield_now` between chunks, as well-behaved CPU work on the workers
//! should: they keep both workers busy, always with a task to run.
//!
//! A client on its own runtime (current-thread, on the main thread) holds
//! 16 connections, each sending a `FAST` request every 2 ms whether or not
//! the previous reply is back (an open-loop load: a reply that is late
//! does not delay the next request, so every moment of a stall shows up in
//! the latencies), for 1.2 s; 400 ms in, a 17th connection sends one
//! `SLOW` request. The program does this twice and prints the latency of
//! the `FAST` requests (p50, p99, max, how many took over 50 ms) side by
//! side:
//!
//! 1. **with the rescue**: the default builder, stall detection on (100 ms
//!    threshold). The monitor thread sees the `SLOW` poll still running
//!    after a tick (10 ms) and from then on, every tick, does the stuck
//!    worker's duties for it: it polls that worker's I/O driver, fires its
//!    due timers, and moves its queued tasks to the injector, where the
//!    other worker takes them. At 100 ms it reports the stall, once: the
//!    report (printed below the table) names the task, where it was
//!    spawned, the worker and how long the poll has run;
//! 2. **without it**: `Builder::stall_threshold(None)`, no monitor. Then
//!    only a *watcher* helps a stuck worker: a parked worker that polls
//!    its siblings' drivers while it waits. Here no worker ever parks (the
//!    background jobs are always runnable), so no watcher exists.
//!
//! Why the difference is so large: a socket is registered with the I/O
//! driver of the worker that creates it, and the server accepts every
//! connection from one task, so all 17 server-side sockets are on one
//! worker's driver. The `SLOW` request's readiness event is dispatched by
//! that driver, on that worker, so the handler that blocks runs there, and
//! blocks the one worker that could hear any client. Without the rescue,
//! nobody polls that driver for 500 ms: every `FAST` request sent
//! meanwhile waits, the first one for the whole half second, although the
//! other worker is running (it is busy with the background jobs, which it
//! interleaves with any request it is given, but it is given none). With
//! the rescue, the monitor hands those requests to the other worker every
//! 10 ms, so they wait about a tick (the first ones about two: the monitor
//! first sees the poll up to a tick after it starts, and rescues from its
//! second look on).
//!
//! The fix for the handler itself is what the report says: move the
//! blocking call into `weft::task::spawn_blocking` (or wrap it in
//! `weft::task::block_in_place`). The rescue only limits the damage while
//! the mistake is there.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release -p weft-examples --example stall
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{AsyncReadExt, AsyncWriteExt};
use weft::net::{TcpListener, TcpStream};
use weft::runtime::{Builder, StallReport};
use weft::task::JoinHandle;
use weft::time::{sleep_until, Instant};

/// Client connections sending `FAST` requests.
const CONNS: usize = 16;
/// Each connection sends a `FAST` request this often.
const PERIOD: Duration = Duration::from_millis(2);
/// How long the `FAST` load runs.
const LOAD_FOR: Duration = Duration::from_millis(1200);
/// When the `SLOW` request is sent, after the load starts.
const SLOW_AT: Duration = Duration::from_millis(400);
/// How long the `SLOW` handler blocks its worker.
const BLOCK_FOR: Duration = Duration::from_millis(500);
/// Background checksum jobs (two per worker).
const JOBS: usize = 4;
/// Bytes a background job checksums between two yields.
const CHUNK: usize = 4096;
/// Bytes of a request line and of its reply: `FAST ` or `SLOW `, 16
/// digits (the send time, µs since the client's epoch), `\n`.
const LINE_LEN: usize = 22;
/// A `FAST` request slower than this counts as hurt by the stall.
const HURT: Duration = Duration::from_millis(50);

/// What one run measured.
struct Run {
    /// Latencies of the `FAST` requests, sorted.
    fast: Vec<Duration>,
    /// Latency of the `SLOW` request.
    slow: Duration,
    /// Stall reports, each with how long after the `SLOW` request was
    /// sent it arrived.
    reports: Vec<(Duration, StallReport)>,
    /// `RuntimeMetrics::stall_count` at the end.
    stall_count: u64,
}

fn main() -> io::Result<()> {
    println!(
        "{CONNS} connections each send a FAST request every {PERIOD:?} for {LOAD_FOR:?}; \
         {SLOW_AT:?} in, one SLOW request blocks its worker for {BLOCK_FOR:?}; \
         {JOBS} background jobs keep both workers busy\n"
    );
    let rescued = run(true)?;
    let unrescued = run(false)?;

    println!(
        "latency of the FAST requests   {:>18} {:>26}",
        "with the rescue", "without (detection off)"
    );
    for (label, q) in [("p50", 0.50), ("p99", 0.99), ("max", 1.0)] {
        let [a, b] = [&rescued, &unrescued].map(|r| fmt(percentile(&r.fast, q)));
        println!("  {label:<28} {a:>18} {b:>26}");
    }
    let [a, b] =
        [&rescued, &unrescued].map(|r| r.fast.iter().filter(|&&d| d > HURT).count().to_string());
    println!("  {:<28} {a:>18} {b:>26}", format!("over {} ms", HURT.as_millis()));
    let [a, b] = [&rescued, &unrescued].map(|r| r.fast.len().to_string());
    println!("  {:<28} {a:>18} {b:>26}", "requests");
    let [a, b] = [&rescued, &unrescued].map(|r| fmt(r.slow));
    println!("  {:<28} {a:>18} {b:>26}", "(the SLOW request itself)");
    let [a, b] = [&rescued, &unrescued].map(|r| r.stall_count.to_string());
    println!("  {:<28} {a:>18} {b:>26}", "stall_count()");

    for (after, report) in &rescued.reports {
        println!("\nwith the rescue, {} after the SLOW request was sent:\n{report}", fmt(*after));
    }
    if rescued.reports.is_empty() {
        println!("\nno stall report (a very loaded machine may have delayed the request)");
    }
    Ok(())
}

/// One run of the server and its load, with stall detection on (the
/// default) or off.
fn run(detection: bool) -> io::Result<Run> {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let mut builder = Builder::new_multi_thread();
    builder.worker_threads(2);
    if detection {
        let sink = reports.clone();
        // Instead of the default paragraph on stderr, kept to be printed
        // after the table, with the time it came.
        builder.on_stall(move |report| {
            sink.lock().unwrap().push((std::time::Instant::now(), report.clone()));
        });
    } else {
        builder.stall_threshold(None);
    }
    let server = builder.build()?;
    let client = Builder::new_current_thread().build()?;

    let listener = server.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let accepting = server.spawn(accept(listener, CONNS + 1));
    let mut streams = client.block_on(connect(addr, CONNS + 1))?;
    let served = server.block_on(accepting).expect("the accept loop")?;

    let stop = Arc::new(AtomicBool::new(false));
    let jobs: Vec<_> = (0..JOBS).map(|_| server.spawn(checksum_job(stop.clone()))).collect();
    let slow = streams.pop().expect("the SLOW connection");
    let (mut fast, slow, slow_sent) = client.block_on(load(streams, slow))?;
    stop.store(true, Relaxed);
    server.block_on(async {
        for job in jobs {
            job.await.expect("a background job");
        }
        for handler in served {
            handler.await.expect("a handler")?;
        }
        io::Result::Ok(())
    })?;

    fast.sort();
    let reports = std::mem::take(&mut *reports.lock().unwrap())
        .into_iter()
        .map(|(at, report)| (at.saturating_duration_since(slow_sent), report))
        .collect();
    Ok(Run { fast, slow, reports, stall_count: server.metrics().stall_count() })
}

/// Accepts `n` connections, each served by its own task; returns those
/// tasks. Every accepted socket is registered with the driver of the
/// worker running this loop.
async fn accept(listener: TcpListener, n: usize) -> io::Result<Vec<JoinHandle<io::Result<()>>>> {
    let mut handlers = Vec::with_capacity(n);
    for _ in 0..n {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        handlers.push(weft::spawn(serve(stream)));
    }
    Ok(handlers)
}

/// Serves one connection until the client closes it.
async fn serve(mut stream: TcpStream) -> io::Result<()> {
    let mut line = [0; LINE_LEN];
    loop {
        match stream.read_exact(&mut line).await {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            result => result?,
        }
        if line.starts_with(b"SLOW") {
            // The mistake: a blocking call in async code holds the worker
            // (it belongs in `weft::task::spawn_blocking`).
            std::thread::sleep(BLOCK_FOR);
        }
        stream.write_all(&line).await?;
    }
}

/// Background CPU work that behaves: a checksum in small chunks, yielding
/// between them, until told to stop. Always runnable, so its worker never
/// parks.
async fn checksum_job(stop: Arc<AtomicBool>) {
    let data: Vec<u8> = (0..CHUNK).map(|i| (i * 31 % 251) as u8).collect();
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    while !stop.load(Relaxed) {
        for &byte in &data {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        std::hint::black_box(hash);
        weft::task::yield_now().await;
    }
}

/// Opens `n` connections to `addr`, one after the other (so the server
/// accepts them in order).
async fn connect(addr: SocketAddr, n: usize) -> io::Result<Vec<TcpStream>> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        streams.push(stream);
    }
    Ok(streams)
}

/// The client's load: on each of `fast`, a `FAST` request every
/// [`PERIOD`] for [`LOAD_FOR`] (the connections staggered over one
/// period), and one `SLOW` request on `slow` at [`SLOW_AT`]. Returns the
/// `FAST` latencies, the `SLOW` one and when the `SLOW` request was sent.
async fn load(
    fast: Vec<TcpStream>,
    mut slow: TcpStream,
) -> io::Result<(Vec<Duration>, Duration, std::time::Instant)> {
    let epoch = Instant::now();
    let requests = (LOAD_FOR.as_micros() / PERIOD.as_micros()) as usize;
    let mut readers = Vec::with_capacity(fast.len());
    let mut writers = Vec::with_capacity(fast.len());
    for (i, stream) in fast.into_iter().enumerate() {
        let (mut rx, mut tx) = stream.into_split();
        let first = epoch + PERIOD * i as u32 / CONNS as u32;
        writers.push(weft::spawn(async move {
            for n in 0..requests {
                sleep_until(first + PERIOD * n as u32).await;
                tx.write_all(&request(b"FAST", epoch)).await?;
            }
            io::Result::Ok(())
        }));
        readers.push(weft::spawn(async move {
            let mut latencies = Vec::with_capacity(requests);
            let mut reply = [0; LINE_LEN];
            for _ in 0..requests {
                rx.read_exact(&mut reply).await?;
                latencies.push(latency(&reply, epoch));
            }
            io::Result::Ok(latencies)
        }));
    }
    sleep_until(epoch + SLOW_AT).await;
    let slow_sent = std::time::Instant::now();
    slow.write_all(&request(b"SLOW", epoch)).await?;
    let mut reply = [0; LINE_LEN];
    slow.read_exact(&mut reply).await?;
    let slow_latency = latency(&reply, epoch);

    for writer in writers {
        writer.await.expect("a writer")?;
    }
    let mut latencies = Vec::with_capacity(CONNS * requests);
    for reader in readers {
        latencies.extend(reader.await.expect("a reader")?);
    }
    Ok((latencies, slow_latency, slow_sent))
}

/// A request line of `kind` stamped with the time now.
fn request(kind: &[u8; 4], epoch: Instant) -> [u8; LINE_LEN] {
    let mut line = [0; LINE_LEN];
    let stamp = format!(" {:016}\n", epoch.elapsed().as_micros());
    line[..4].copy_from_slice(kind);
    line[4..].copy_from_slice(stamp.as_bytes());
    line
}

/// Time since the request echoed in `reply` was sent.
fn latency(reply: &[u8; LINE_LEN], epoch: Instant) -> Duration {
    let stamp = std::str::from_utf8(&reply[5..LINE_LEN - 1]).expect("digits");
    let sent = Duration::from_micros(stamp.parse().expect("a send time"));
    epoch.elapsed().saturating_sub(sent)
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn fmt(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}
