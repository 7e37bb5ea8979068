//! Echo server: an accept loop that survives running out of file descriptors.
//!
//! The server accepts TCP connections and writes every byte it reads back to
//! the sender, one task per connection. Its accept loop neither spins nor
//! exits on a transient error:
//!
//! - "too many open files" (EMFILE: this process is out of descriptors;
//!   ENFILE: the whole system is) or another shortage (ENOBUFS, ENOMEM,
//!   anything unexpected) is logged, and the loop sleeps before it accepts
//!   again: 1 ms, then twice as long after each failure up to 1 s, back to
//!   1 ms after the next success. Meanwhile the open connections are served
//!   as usual, and as they close, descriptors free up for new ones. Without
//!   the pause, `accept` would fail again at once, forever, burning a core;
//! - an error that concerns one pending connection only (reset or aborted by
//!   the peer before it was accepted) is logged, and the loop goes on at once.
//!
//! By default the program starts the server on a free port of 127.0.0.1,
//! runs a bounded load against it (100 client connections, each sending
//! 1000 messages of 64 bytes and waiting for each echo, which it checks,
//! before sending the next), prints the round trips per second and stops.
//! The clients connect in waves of 100, so that a big `--connections`
//! does not overflow the listen backlog; both ends of every connection are
//! in this process, so it raises its soft limit on open files to the hard
//! limit first.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release -p weft-examples --example echo
//! cargo run --release -p weft-examples --example echo -- --connections 200 --messages 5000
//! ```
//!
//! or run the server alone with `--serve ADDR` and talk to it with `nc`:
//!
//! ```text
//! cargo run --release -p weft-examples --example echo -- --serve 127.0.0.1:7000
//! nc 127.0.0.1 7000        # in another terminal: every line comes back
//! ```
//!
//! `--serve` runs until Ctrl-C (`SIGINT`) or `SIGTERM` (`kill PID`), which
//! it waits for with `weft::signal`. Then it stops accepting (the listener
//! is closed), closes the connections still open (their tasks are aborted,
//! which drops their sockets), prints what it served and exits with
//! status 0:
//!
//! ```text
//! ^C
//! echo server: SIGINT (Ctrl-C), shutting down
//! uptime          12.1 s
//! connections     3 accepted, 1 still open (closed now)
//! echoed          1204 bytes in 17 writes
//! ```
//!
//! To watch the backoff, start it with a tiny descriptor limit, e.g.
//! `bash -c 'ulimit -n 16; exec target/release/examples/echo --serve 127.0.0.1:7000'`,
//! and open more than about ten connections to it: the loop logs EMFILE with
//! growing pauses, and accepts the waiting connections once others close.

mod support;

use std::future::{pending, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::process::exit;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::{select, Either};
use futures_util::{AsyncReadExt, AsyncWriteExt};
use weft::net::{TcpListener, TcpStream};
use weft::runtime::{Builder, RuntimeMetrics};
use weft::task::JoinSet;
use weft::time::sleep;

use support::{connect_in_waves, round_trip, MESSAGE_LEN};

/// First pause of the accept loop after an error.
const MIN_BACKOFF: Duration = Duration::from_millis(1);
/// Longest pause of the accept loop.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// What the server did, counted by the accept loop and the connections.
#[derive(Default)]
struct Served {
    /// Connections accepted.
    accepted: AtomicU64,
    /// Bytes written back.
    bytes: AtomicU64,
    /// `write_all` calls that wrote them back (one per read).
    writes: AtomicU64,
}

/// Command-line options.
struct Options {
    /// `--serve ADDR`: run the server alone on `ADDR`.
    serve: Option<SocketAddr>,
    /// `--connections N`: client connections of the built-in load.
    connections: usize,
    /// `--messages M`: messages each client connection sends.
    messages: usize,
}

/// Runs the server alone (`--serve`) or with its built-in load. (Public for
/// `tests/ctrl_c.rs`, which runs it in a child process.)
pub fn main() -> io::Result<()> {
    let options = parse_args();
    let rt = Builder::new_multi_thread().worker_threads(2).thread_name("echo-worker").build()?;

    if let Some(addr) = options.serve {
        return rt.block_on(serve(addr));
    }

    // Both ends of every connection are in this process.
    weft_dev_support::raise_fd_limit()?;
    let (connections, messages) = (options.connections, options.messages);
    let (elapsed, round_trips) = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        println!(
            "echo server on {addr}; {connections} clients x {messages} messages of {MESSAGE_LEN} bytes"
        );
        let served = Arc::new(Served::default());
        let server = weft::spawn(accept_loop(listener, served, pending::<&str>()));

        // Connect in waves, each connection making one round trip (proof
        // that the server accepted it) before the next wave starts.
        let streams = connect_in_waves(addr, connections).await?;

        let start = Instant::now();
        let clients: Vec<_> = streams
            .into_iter()
            .enumerate()
            .map(|(id, stream)| weft::spawn(client(stream, id, messages)))
            .collect();
        let mut round_trips = 0;
        for client in clients {
            round_trips += client.await.expect("client task panicked")?;
        }
        let elapsed = start.elapsed();
        server.abort();
        io::Result::Ok((elapsed, round_trips))
    })?;

    println!(
        "{round_trips} round trips in {:.2} s: {:.0} messages/s echoed and checked",
        elapsed.as_secs_f64(),
        round_trips as f64 / elapsed.as_secs_f64()
    );
    print_workers(&rt.metrics());
    Ok(())
}

/// `--serve`: echoes on `addr` until `SIGINT` or `SIGTERM`, then closes
/// everything and prints what it served.
async fn serve(addr: SocketAddr) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    // Listen for the signals before printing the address, so that a signal
    // sent as soon as the server is seen running is not missed.
    let stop = support::stop_signal()?;
    let start = Instant::now();
    println!("echo server listening on {} (Ctrl-C or SIGTERM to stop)", listener.local_addr()?);
    let served = Arc::new(Served::default());

    // Returns at the signal, having dropped (so closed) the listener.
    let (why, mut connections) = accept_loop(listener, served.clone(), stop).await;
    println!("echo server: {why}, shutting down");
    let open = support::close_all(&mut connections).await;

    println!("uptime          {:.1} s", start.elapsed().as_secs_f64());
    println!(
        "connections     {} accepted, {open} still open (closed now)",
        served.accepted.load(Relaxed)
    );
    println!(
        "echoed          {} bytes in {} writes",
        served.bytes.load(Relaxed),
        served.writes.load(Relaxed)
    );
    Ok(())
}

/// Accepts connections until `stop` completes, one echo task each (in the
/// returned set), counted in `served`; backs off on errors instead of
/// spinning or giving up (see the top of the file). Returns `stop`'s
/// output and the connection tasks, and drops the listener.
async fn accept_loop<S: Future>(
    listener: TcpListener,
    served: Arc<Served>,
    stop: S,
) -> (S::Output, JoinSet<()>) {
    let mut stop = pin!(stop);
    let mut connections = JoinSet::new();
    let mut backoff = MIN_BACKOFF;
    loop {
        while connections.try_join_next().is_some() {} // reap the ended ones
        let accepted = match select(pin!(listener.accept()), stop.as_mut()).await {
            Either::Left((accepted, _)) => accepted,
            Either::Right((why, _)) => return (why, connections),
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = MIN_BACKOFF;
                served.accepted.fetch_add(1, Relaxed);
                let served = served.clone();
                connections.spawn(async move {
                    if let Err(e) = echo(stream, &served).await {
                        eprintln!("connection {peer}: {e}");
                    }
                });
            }
            Err(e) if concerns_one_connection(&e) => {
                eprintln!("accept: {e}; that connection is lost, accepting the next");
            }
            Err(e) => {
                let why = if out_of_descriptors(&e) { " (out of file descriptors)" } else { "" };
                eprintln!("accept: {e}{why}; retrying in {backoff:?}");
                if let Either::Right((why, _)) = select(pin!(sleep(backoff)), stop.as_mut()).await {
                    return (why, connections);
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// EMFILE (the process's limit) or ENFILE (the system's).
fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Errors about one pending connection, not about the listener: retrying
/// at once is right. Linux's `accept` also reports a pending connection's
/// network errors this way (see accept(2), "Error handling").
fn concerns_one_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    ) || matches!(
        e.raw_os_error(),
        Some(
            libc::EPROTO
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
        )
    )
}

/// Writes back everything it reads until the peer closes.
async fn echo(mut stream: TcpStream, served: &Served) -> io::Result<()> {
    let mut buf = vec![0; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
        served.bytes.fetch_add(n as u64, Relaxed);
        served.writes.fetch_add(1, Relaxed);
    }
}

/// One client of the built-in load: `messages` round trips. Returns the
/// number of round trips.
async fn client(mut stream: TcpStream, id: usize, messages: usize) -> io::Result<u64> {
    for i in 1..=messages {
        round_trip(&mut stream, id, i).await?;
    }
    Ok(messages as u64)
}

/// One line per worker: tasks polled, steals, parks.
fn print_workers(metrics: &RuntimeMetrics) {
    for w in 0..metrics.num_workers() {
        println!(
            "worker {w}: {} polls, {} steals, {} parks",
            metrics.worker_poll_count(w),
            metrics.worker_steal_count(w),
            metrics.worker_park_count(w)
        );
    }
}

fn parse_args() -> Options {
    let mut options = Options { serve: None, connections: 100, messages: 1000 };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value =
            |name: &str| args.next().unwrap_or_else(|| usage(&format!("{name} needs a value")));
        match arg.as_str() {
            "--serve" => {
                let addr = value("--serve");
                options.serve =
                    Some(addr.parse().unwrap_or_else(|_| usage(&format!("bad address {addr}"))));
            }
            "--connections" => options.connections = number(&value("--connections")),
            "--messages" => options.messages = number(&value("--messages")),
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    options
}

fn number(text: &str) -> usize {
    text.parse().unwrap_or_else(|_| usage(&format!("not a number: {text}")))
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("echo: {problem}");
    }
    eprintln!("usage: echo [--connections N] [--messages M] | --serve ADDR");
    exit(if problem.is_empty() { 0 } else { 2 })
}
