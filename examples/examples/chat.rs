//! Chat: many mostly idle connections, every message broadcast to all.
//!
//! The server keeps a registry of connected clients: for each, the sending
//! end of a bounded outbox (a `futures_channel::mpsc` channel) in a
//! `HashMap` behind a `std::sync::Mutex`. Each connection has two tasks:
//!
//! - its reader reads lines (at most 1 KiB each) and broadcasts each one:
//!   under the lock, it puts the line (one shared `Arc<[u8]>`) into every
//!   client's outbox, its own included. A client whose outbox is full (256
//!   lines waiting: it reads too slowly) misses that line, which is counted
//!   as dropped, so a slow reader costs bounded memory and never holds up
//!   the others;
//! - its writer waits on the outbox and writes what it finds, all queued
//!   lines in one `write` call when several are waiting.
//!
//! An idle client costs two parked tasks, its buffers and two sockets; no
//! thread. By default the program starts the server and 1000 clients in the
//! same process (each end of each connection needs a descriptor, so it
//! raises the soft limit on open files to the hard limit first); they
//! connect 100 at a time, as a bigger burst would overflow the listen
//! backlog of 128 and make the kernel drop handshakes. Each client sends a
//! line every 1 to 3 s (at random) for 10 s and counts every line it
//! receives; then the program waits for the lines in flight, closes the
//! clients and prints the connections held, the broadcasts and deliveries
//! (lines read by a client) per second, and the process's memory: its
//! resident set (RSS, from `/proc/self/statm`) and its peak (`VmHWM` from
//! `/proc/self/status`). A progress line is printed every second.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release -p weft-examples --example chat
//! cargo run --release -p weft-examples --example chat -- --clients 5000 --secs 30
//! ```
//!
//! or run the server alone and chat with `nc 127.0.0.1 7001` from several
//! terminals:
//!
//! ```text
//! cargo run --release -p weft-examples --example chat -- --serve 127.0.0.1:7001
//! ```
//!
//! It serves until Ctrl-C (`SIGINT`) or `SIGTERM` (`kill PID`), which it
//! waits for with `weft::signal`. Then it stops accepting (the listener is
//! closed), closes every client's connection (their tasks are aborted,
//! which drops their sockets; lines still queued for a client are not
//! sent), prints what it served and exits with status 0:
//!
//! ```text
//! ^C
//! chat server: SIGINT (Ctrl-C), shutting down
//! uptime              95.2 s
//! connections         4 accepted (peak 3), 2 still open (closed now)
//! lines broadcast     27
//! lines delivered     61 written to clients, 0 dropped (outbox full)
//! ```

mod support;

use std::collections::HashMap;
use std::future::{pending, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::process::exit;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_channel::mpsc;
use futures_util::future::{select, Either};
use futures_util::io::BufReader;
use futures_util::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, StreamExt};
use weft::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use weft::net::{TcpListener, TcpStream};
use weft::task::{AbortHandle, JoinHandle, JoinSet};
use weft::time::{sleep, Instant};

use support::{kib, mib};
use weft_dev_support::{raise_fd_limit, rss_bytes, ProcStats};

/// One chat line, newline included, shared by every outbox it is put in.
type Line = Arc<[u8]>;

/// Longest line the server reads; a longer one is cut.
const MAX_LINE: u64 = 1024;
/// Lines an outbox holds before its client counts as too slow.
const OUTBOX: usize = 256;
/// Most bytes one writer call sends.
const WRITE_BATCH: usize = 16 * 1024;
/// Clients that connect at once: the listen backlog is 128, and a bigger
/// burst of connects overflows it (the kernel drops handshakes, which are
/// retried only after a second).
const WAVE: usize = 100;
/// Descriptors kept for the runtime and the rest of the process.
const SPARE_FDS: u64 = 64;

/// The server's shared state: the registry of outboxes and counters.
#[derive(Default)]
struct Hub {
    /// Every connected client's outbox, by client id.
    clients: Mutex<HashMap<u64, mpsc::Sender<Line>>>,
    next_id: AtomicU64,
    /// Connections accepted.
    accepted: AtomicU64,
    /// Most clients connected at once.
    peak: AtomicUsize,
    /// Lines received and broadcast.
    broadcasts: AtomicU64,
    /// Copies of lines put in outboxes.
    queued: AtomicU64,
    /// Copies not put in an outbox because it was full.
    dropped: AtomicU64,
    /// Copies written to their clients.
    written: AtomicU64,
    /// Writer tasks not yet ended (see [`Writing`]).
    writers: AtomicUsize,
}

impl Hub {
    /// Registers a client's outbox; returns the client's id.
    fn join(&self, outbox: mpsc::Sender<Line>) -> u64 {
        let id = self.next_id.fetch_add(1, Relaxed);
        let mut clients = self.clients.lock().unwrap();
        clients.insert(id, outbox);
        self.peak.fetch_max(clients.len(), Relaxed);
        id
    }

    /// Removes a client; dropping its outbox's sender ends its writer once
    /// the queued lines are written.
    fn leave(&self, id: u64) {
        self.clients.lock().unwrap().remove(&id);
    }

    fn len(&self) -> usize {
        self.clients.lock().unwrap().len()
    }

    /// Puts `line` into every outbox that has room.
    fn broadcast(&self, line: Line) {
        let (mut queued, mut dropped) = (0, 0);
        for outbox in self.clients.lock().unwrap().values_mut() {
            match outbox.try_send(line.clone()) {
                Ok(()) => queued += 1,
                Err(e) if e.is_full() => dropped += 1,
                // The writer is gone (its connection failed); the reader
                // will see that too and remove the client.
                Err(_) => {}
            }
        }
        self.broadcasts.fetch_add(1, Relaxed);
        self.queued.fetch_add(queued, Relaxed);
        self.dropped.fetch_add(dropped, Relaxed);
    }
}

/// The built-in clients' counters.
#[derive(Default)]
struct Load {
    failed: AtomicUsize,
    sent: AtomicU64,
    /// Lines read by the clients.
    delivered: AtomicU64,
}

/// Command-line options.
struct Options {
    serve: Option<SocketAddr>,
    clients: usize,
    secs: u64,
}

/// Runs the server alone (`--serve`) or with its built-in clients.
/// (Public for `tests/ctrl_c.rs`, which runs it in a child process.)
pub fn main() -> io::Result<()> {
    let mut options = parse_args();
    let fd_limit = raise_fd_limit()?;
    let rt = weft::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("chat-worker")
        .build()?;

    if let Some(addr) = options.serve {
        return rt.block_on(serve(addr));
    }

    // Server and clients share the process: two descriptors a connection.
    let most = usize::try_from(fd_limit.saturating_sub(SPARE_FDS) / 2).unwrap_or(usize::MAX);
    if options.clients > most {
        println!(
            "the open-files limit is {fd_limit}: room for {most} clients (2 descriptors each), \
             not {}; running {most}",
            options.clients
        );
        options.clients = most;
    }
    rt.block_on(run(options.clients, Duration::from_secs(options.secs)))
}

/// The default mode: server, clients, report.
async fn run(clients: usize, duration: Duration) -> io::Result<()> {
    let before = ProcStats::now();
    let hub = Arc::new(Hub::default());
    let load = Arc::new(Load::default());
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = weft::spawn(accept_loop(listener, hub.clone(), pending::<&str>()));
    println!("chat server on {addr}; connecting {clients} clients");

    // Connect in waves of `WAVE`; a wave starts once the server has
    // registered the previous one.
    let start = Instant::now();
    let mut streams = Vec::with_capacity(clients);
    let mut next_report = Duration::from_secs(1);
    while streams.len() + load.failed.load(Relaxed) < clients {
        let first = streams.len() + load.failed.load(Relaxed);
        let wave: Vec<_> = (first..clients.min(first + WAVE))
            .map(|id| weft::spawn(connect(addr, id, load.clone())))
            .collect();
        for task in wave {
            if let Ok(Ok(stream)) = task.await {
                streams.push(stream);
            }
        }
        let registered = Instant::now();
        while hub.len() < streams.len() {
            if registered.elapsed() >= Duration::from_secs(10) {
                println!("the server registered {} of {} connections", hub.len(), streams.len());
                break;
            }
            sleep(Duration::from_millis(1)).await;
        }
        if start.elapsed() >= next_report {
            println!("{:>4} s: {} clients connected", next_report.as_secs(), streams.len());
            next_report += Duration::from_secs(1);
        }
    }
    let held = hub.len();
    let idle = ProcStats::now();
    println!(
        "{held} clients connected in {:.2} s ({} failed); RSS {}, {} threads",
        start.elapsed().as_secs_f64(),
        load.failed.load(Relaxed),
        mib(idle.rss),
        idle.threads
    );

    let chat_start = Instant::now();
    let stop_sending = chat_start + duration;
    let tasks: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(id, stream)| weft::spawn(chatter(stream, id, stop_sending, load.clone())))
        .collect();

    // Chat until every client has stopped sending, one progress line a second.
    let mut last = 0;
    let mut second = 1;
    while tasks.iter().any(|task| !task.is_finished()) {
        sleep(Duration::from_millis(100)).await;
        if chat_start.elapsed() >= Duration::from_secs(second) {
            let delivered = load.delivered.load(Relaxed);
            println!(
                "{second:>4} s: {} connected, {} lines sent, {delivered} delivered \
                 ({}/s), {} dropped, RSS {}",
                hub.len(),
                load.sent.load(Relaxed),
                delivered - last,
                hub.dropped.load(Relaxed),
                mib(rss_bytes().unwrap_or(0))
            );
            last = delivered;
            second += 1;
        }
    }
    // Wait for the lines still in flight (every copy queued is read).
    let drain_start = Instant::now();
    while load.delivered.load(Relaxed) < hub.queued.load(Relaxed)
        && drain_start.elapsed() < Duration::from_secs(10)
    {
        sleep(Duration::from_millis(10)).await;
    }
    let elapsed = chat_start.elapsed();
    let end = ProcStats::now();

    // Close every client: the server sees end of file, removes it and
    // closes its end, which ends the client's reader.
    let mut readers = Vec::new();
    for task in tasks {
        if let Ok(Ok((mut write, reader))) = task.await {
            write.close().await?;
            readers.push(reader);
        }
    }
    for reader in readers {
        let _ = reader.await;
    }
    while hub.len() > 0 {
        sleep(Duration::from_millis(10)).await;
    }
    server.abort();

    let secs = elapsed.as_secs_f64();
    let (broadcasts, delivered) = (hub.broadcasts.load(Relaxed), load.delivered.load(Relaxed));
    println!();
    println!("connections held    {held} (peak {})", hub.peak.load(Relaxed));
    println!("lines broadcast     {broadcasts} in {secs:.1} s: {:.0}/s", broadcasts as f64 / secs);
    println!("deliveries          {delivered}: {:.0}/s", delivered as f64 / secs);
    println!(
        "dropped             {} (outbox full), {} queued but not read",
        hub.dropped.load(Relaxed),
        hub.queued.load(Relaxed).saturating_sub(delivered)
    );
    println!(
        "memory              RSS {} before, {} with {held} idle clients ({} per \
         connection, both ends), {} at the end; peak (VmHWM) {}",
        mib(before.rss),
        mib(idle.rss),
        kib(idle.rss.saturating_sub(before.rss) as f64 / held.max(1) as f64),
        mib(end.rss),
        mib(end.hwm)
    );
    println!("threads             {}", end.threads);
    Ok(())
}

/// `--serve`: the chat server alone on `addr`, until `SIGINT` or
/// `SIGTERM`; then it closes everything and prints what it served.
async fn serve(addr: SocketAddr) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    // Listen for the signals before printing the address, so that a signal
    // sent as soon as the server is seen running is not missed.
    let stop = support::stop_signal()?;
    let start = Instant::now();
    println!("chat server on {} (Ctrl-C or SIGTERM to stop)", listener.local_addr()?);
    let hub = Arc::new(Hub::default());

    // Returns at the signal, having dropped (so closed) the listener.
    let (why, mut clients) = accept_loop(listener, hub.clone(), stop).await;
    println!("chat server: {why}, shutting down");
    // Dropping a client's task removes it from the hub, stops its writer
    // and closes its socket.
    let open = support::close_all(&mut clients).await;
    // Their writers are aborted too; wait until they are gone, so the
    // sockets are closed and the counts final.
    let deadline = Instant::now() + Duration::from_secs(5);
    while hub.writers.load(Relaxed) > 0 && Instant::now() < deadline {
        sleep(Duration::from_millis(1)).await;
    }

    println!("uptime              {:.1} s", start.elapsed().as_secs_f64());
    println!(
        "connections         {} accepted (peak {}), {open} still open (closed now)",
        hub.accepted.load(Relaxed),
        hub.peak.load(Relaxed)
    );
    println!("lines broadcast     {}", hub.broadcasts.load(Relaxed));
    println!(
        "lines delivered     {} written to clients, {} dropped (outbox full)",
        hub.written.load(Relaxed),
        hub.dropped.load(Relaxed)
    );
    Ok(())
}

/// Accepts clients until `stop` completes, one task each (in the returned
/// set). On an error (out of descriptors...) it logs and pauses instead of
/// spinning; `echo.rs` shows a full backoff. Returns `stop`'s output and
/// the clients' tasks, and drops the listener.
async fn accept_loop<S: Future>(
    listener: TcpListener,
    hub: Arc<Hub>,
    stop: S,
) -> (S::Output, JoinSet<()>) {
    let mut stop = pin!(stop);
    let mut clients = JoinSet::new();
    loop {
        while clients.try_join_next().is_some() {} // reap the ended ones
        let accepted = match select(pin!(listener.accept()), stop.as_mut()).await {
            Either::Left((accepted, _)) => accepted,
            Either::Right((why, _)) => return (why, clients),
        };
        match accepted {
            Ok((stream, peer)) => {
                hub.accepted.fetch_add(1, Relaxed);
                let hub = hub.clone();
                clients.spawn(async move {
                    if let Err(e) = serve_client(stream, hub).await {
                        eprintln!("client {peer}: {e}");
                    }
                });
            }
            Err(e) => {
                eprintln!("accept: {e}; retrying in 100 ms");
                let pause = pin!(sleep(Duration::from_millis(100)));
                if let Either::Right((why, _)) = select(pause, stop.as_mut()).await {
                    return (why, clients);
                }
            }
        }
    }
}

/// Counts a writer task in [`Hub::writers`] from its spawn until its
/// future is dropped (it ended, or was aborted, even before its first poll).
struct Writing(Arc<Hub>);

impl Writing {
    fn new(hub: &Arc<Hub>) -> Writing {
        hub.writers.fetch_add(1, Relaxed);
        Writing(hub.clone())
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        self.0.writers.fetch_sub(1, Relaxed);
    }
}

/// A client's registration in the hub: dropping it (also when the client's
/// task is aborted) removes the client and stops its writer.
struct Member {
    hub: Arc<Hub>,
    id: u64,
    writer: AbortHandle,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.hub.leave(self.id);
        self.writer.abort();
    }
}

/// One client on the server: register, broadcast its lines, leave.
async fn serve_client(stream: TcpStream, hub: Arc<Hub>) -> io::Result<()> {
    let (read, write) = stream.into_split();
    let (outbox, inbox) = mpsc::channel(OUTBOX);
    let id = hub.join(outbox);
    let writing = Writing::new(&hub);
    let writer = weft::spawn(async move {
        let result = write_outbox(write, inbox, &writing.0).await;
        drop(writing);
        result
    });
    let member = Member { hub: hub.clone(), id, writer: writer.abort_handle() };
    let result = broadcast_lines(read, &hub).await;
    // Leaving drops the outbox's sender: the writer writes what is queued
    // and ends.
    hub.leave(id);
    let written = writer.await.unwrap_or(Ok(()));
    drop(member);
    result.and(written)
}

/// Reads lines until end of file and broadcasts each.
async fn broadcast_lines(read: OwnedReadHalf, hub: &Hub) -> io::Result<()> {
    let mut reader = BufReader::with_capacity(512, read);
    let mut line = Vec::new();
    loop {
        line.clear();
        if (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        hub.broadcast(Line::from(&line[..]));
    }
}

/// Writes the outbox's lines until the hub drops its sender.
async fn write_outbox(
    mut write: OwnedWriteHalf,
    mut inbox: mpsc::Receiver<Line>,
    hub: &Hub,
) -> io::Result<()> {
    let mut batch = Vec::new();
    while let Some(line) = inbox.next().await {
        batch.clear();
        batch.extend_from_slice(&line);
        let mut lines = 1;
        while batch.len() < WRITE_BATCH {
            match inbox.try_recv() {
                Ok(line) => {
                    batch.extend_from_slice(&line);
                    lines += 1;
                }
                Err(_) => break,
            }
        }
        write.write_all(&batch).await?;
        hub.written.fetch_add(lines, Relaxed);
    }
    Ok(())
}

/// Connects a built-in client.
async fn connect(addr: SocketAddr, id: usize, load: Arc<Load>) -> io::Result<TcpStream> {
    TcpStream::connect(addr).await.inspect_err(|e| {
        if load.failed.fetch_add(1, Relaxed) == 0 {
            eprintln!("client {id}: connect: {e}");
        }
    })
}

/// A built-in client: sends a line every 1 to 3 s until `stop_sending`,
/// and counts the lines it reads (in a reader task). Returns its write
/// half, still open, and the reader task.
async fn chatter(
    stream: TcpStream,
    id: usize,
    stop_sending: Instant,
    load: Arc<Load>,
) -> io::Result<(OwnedWriteHalf, JoinHandle<io::Result<()>>)> {
    let (read, mut write) = stream.into_split();
    let reader = weft::spawn(count_lines(read, load.clone()));
    let mut rng = Rng::new(id as u64);
    for n in 1.. {
        let pause = Duration::from_millis(1000 + rng.below(2000));
        if Instant::now() + pause > stop_sending {
            break;
        }
        sleep(pause).await;
        write.write_all(format!("client {id}: line {n}\n").as_bytes()).await?;
        load.sent.fetch_add(1, Relaxed);
    }
    Ok((write, reader))
}

/// Counts the lines read until end of file.
async fn count_lines(mut read: OwnedReadHalf, load: Arc<Load>) -> io::Result<()> {
    let mut buf = vec![0; 1024];
    loop {
        let n = read.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        let lines = buf[..n].iter().filter(|&&b| b == b'\n').count();
        load.delivered.fetch_add(lines as u64, Relaxed);
    }
}

/// xorshift64: good enough to spread the clients' pauses.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng((seed + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn parse_args() -> Options {
    let mut options = Options { serve: None, clients: 1000, secs: 10 };
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
            "--clients" => options.clients = number(&value("--clients")),
            "--secs" => options.secs = number(&value("--secs")) as u64,
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
        eprintln!("chat: {problem}");
    }
    eprintln!("usage: chat [--clients N] [--secs S] | --serve ADDR");
    exit(if problem.is_empty() { 0 } else { 2 })
}
