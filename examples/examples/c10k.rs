//! C10k: ten thousand idle connections, as weft tasks and as OS threads.
//!
//! A server holds N idle TCP connections (10,000 by default) twice, and
//! prints what each way costs the server process:
//!
//! 1. weft: one task per connection, waiting in `read` on a 2-worker
//!    runtime; a waiting task is a few hundred bytes on the heap and a
//!    registration with a worker's `mio::Poll`, no thread;
//! 2. threads: `std::net`, one OS thread per connection blocked in `read`,
//!    spawned with a 64 KiB stack (the default would be 2 MiB of address
//!    space each; a stack costs RAM only for the pages it touches).
//!
//! Both write a one-byte greeting, then read into a 256-byte buffer. For each, the table gives the
//! server's resident memory (RSS, from `/proc/self/statm`) and thread count
//! (`Threads:` in `/proc/self/status`) before the clients connect and once
//! all N connections are held, the growth per connection, the growth of the
//! address space, and the system-wide growth of kernel stacks (`KernelStack`
//! in `/proc/meminfo`): every thread has one (16 KiB on x86-64) that RSS does
//! not show. Socket buffers are kernel memory too, alike for both.
//!
//! The client ends live in a child process (this program run again with
//! `--client ADDR N`): one process holding both ends would need 2N file
//! descriptors. The server greets each connection it accepts with one byte;
//! the child opens connections 100 at a time, each batch once the previous
//! one is greeted (so the listen backlog of 128 never overflows), reports how
//! many it got, and holds them until the parent writes a line to its stdin
//! (or closes it).
//! Then the connections close, the server's tasks and threads end, and the
//! threads are joined. The table also counts the server's memory mappings:
//! each Rust thread takes 4 (its stack, the stack's guard page, a signal
//! stack and its guard page), and `vm.max_map_count` (65530 by default)
//! caps a process at about 16,000 threads, whatever the memory. Both processes raise their soft limit on open files
//! to the hard limit first; if N connections still cannot be opened, the
//! table shows how many were, and why.
//!
//! Run it with (Linux only: the figures come from `/proc`):
//!
//! ```text
//! cargo run --release -p weft-examples --example c10k
//! cargo run --release -p weft-examples --example c10k -- 5000
//! ```

mod support;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{exit, Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use futures_util::{AsyncReadExt, AsyncWriteExt};
use weft::runtime::Builder;

use support::{kib, mib};
use weft_dev_support::{kernel_stacks, raise_fd_limit, ProcStats};

/// Idle connections held by default.
const DEFAULT_CONNECTIONS: usize = 10_000;
/// Stack size of a connection thread.
const THREAD_STACK: usize = 64 * 1024;
/// Bytes of the buffer each connection reads into.
const READ_BUF: usize = 256;
/// What the server writes to a connection it accepts.
const GREETING: &[u8] = b"!";
/// Connections the client process opens before it waits for their
/// greetings, i.e. for the server to accept them. The listen backlog
/// (connections the kernel has set up, waiting for `accept`) is 128; a
/// bigger burst of connects overflows it, and the kernel drops handshakes
/// (retried after a second) or, with SYN cookies, whole connections.
const BATCH: usize = 100;
/// How long the client process waits for a greeting.
const GREETING_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server may go without a new connection before it stops
/// waiting for the rest.
const STALL: Duration = Duration::from_secs(5);

/// What the server side counts, for both variants.
#[derive(Default)]
struct Server {
    /// Connections being held (tasks or threads waiting in `read`).
    open: AtomicUsize,
    /// The latest problem (accept or thread spawn error), if any.
    problem: Mutex<Option<String>>,
}

impl Server {
    fn record(&self, problem: String) {
        let mut slot = self.problem.lock().unwrap();
        if slot.is_none() {
            eprintln!("server: {problem}");
        }
        *slot = Some(problem);
    }
}

/// One variant's figures.
struct Held {
    /// Connections the client process opened.
    opened: usize,
    /// Connections the server held at once.
    held: usize,
    /// Time from starting the client process until all were held.
    took: Duration,
    before: ProcStats,
    after: ProcStats,
    /// System-wide `KernelStack` growth, bytes.
    kernel_stacks: u64,
    /// What stopped it short of N, if anything.
    problem: Option<String>,
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let n = match args[..] {
        ["--client", addr, n] => return client_process(parse(addr), parse(n)),
        [] => DEFAULT_CONNECTIONS,
        [n] if !n.starts_with('-') => parse(n),
        _ => {
            eprintln!("usage: c10k [CONNECTIONS]");
            exit(2)
        }
    };

    let limit = raise_fd_limit()?;
    println!("holding {n} idle connections; open-files limit {limit} (per process)");
    if n as u64 + 32 > limit {
        println!("  that limit leaves no room for {n} sockets: expect fewer");
    }
    let max_map_count = std::fs::read_to_string("/proc/sys/vm/max_map_count").unwrap_or_default();
    let weft = with_weft(n)?;
    let threads = with_threads(n)?;
    print_table(n, &weft, &threads);
    if threads.held < n && threads.after.mappings + 16 >= max_map_count.trim().parse().unwrap_or(0)
    {
        println!(
            "  (each thread takes 4 memory mappings: its stack, the stack's guard page, a \
             signal stack and its guard page; vm.max_map_count = {} caps them)",
            max_map_count.trim()
        );
    }
    Ok(())
}

/// Variant 1: one weft task per connection.
fn with_weft(n: usize) -> io::Result<Held> {
    let rt = Builder::new_multi_thread().worker_threads(2).thread_name("c10k-worker").build()?;
    let server = Arc::new(Server::default());
    let listener = rt.block_on(weft::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;

    let (before, stacks_before) = (ProcStats::now(), kernel_stacks());
    let start = Instant::now();
    let acceptor = rt.spawn(weft_accept_loop(listener, server.clone()));
    let clients = Clients::start(addr, n)?;
    let held = wait_for(&server, clients.opened);
    let took = start.elapsed();
    let (after, stacks_after) = (ProcStats::now(), kernel_stacks());

    let opened = clients.opened;
    let problem = problems(clients.close()?, &server);
    wait_until_closed(&server);
    acceptor.abort();
    drop(rt);
    let kernel_stacks = stacks_after.saturating_sub(stacks_before);
    Ok(Held { opened, held, took, before, after, kernel_stacks, problem })
}

/// Accepts forever, one task per connection; pauses on errors.
async fn weft_accept_loop(listener: weft::net::TcpListener, server: Arc<Server>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                weft::spawn(weft_hold(stream, server.clone()));
            }
            Err(e) => {
                server.record(format!("accept: {e}"));
                weft::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Greets one connection, then holds it until the peer closes it.
async fn weft_hold(mut stream: weft::net::TcpStream, server: Arc<Server>) {
    server.open.fetch_add(1, Relaxed);
    let mut buf = [0; READ_BUF];
    if stream.write_all(GREETING).await.is_ok() {
        while let Ok(1..) = stream.read(&mut buf).await {}
    }
    server.open.fetch_sub(1, Relaxed);
}

/// Variant 2: one OS thread per connection.
fn with_threads(n: usize) -> io::Result<Held> {
    let server = Arc::new(Server::default());
    let stop = Arc::new(AtomicBool::new(false));
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let acceptor = {
        let (server, stop) = (server.clone(), stop.clone());
        thread::spawn(move || threads_accept_loop(listener, server, stop))
    };

    let (before, stacks_before) = (ProcStats::now(), kernel_stacks());
    let start = Instant::now();
    let clients = Clients::start(addr, n)?;
    let held = wait_for(&server, clients.opened);
    let took = start.elapsed();
    let (after, stacks_after) = (ProcStats::now(), kernel_stacks());

    let opened = clients.opened;
    let problem = problems(clients.close()?, &server);
    // Wake the acceptor with one more connection so it sees `stop`.
    stop.store(true, Relaxed);
    drop(std::net::TcpStream::connect(addr));
    let threads = acceptor.join().expect("acceptor thread panicked");
    for thread in threads {
        thread.join().expect("connection thread panicked");
    }
    let kernel_stacks = stacks_after.saturating_sub(stacks_before);
    Ok(Held { opened, held, took, before, after, kernel_stacks, problem })
}

/// Accepts until `stop`, one thread per connection; returns the threads.
fn threads_accept_loop(
    listener: std::net::TcpListener,
    server: Arc<Server>,
    stop: Arc<AtomicBool>,
) -> Vec<thread::JoinHandle<()>> {
    let mut threads = Vec::new();
    while !stop.load(Relaxed) {
        match listener.accept() {
            Ok(_) if stop.load(Relaxed) => break,
            Ok((mut stream, _)) => {
                let server_ = server.clone();
                let spawned = thread::Builder::new().stack_size(THREAD_STACK).spawn(move || {
                    server_.open.fetch_add(1, Relaxed);
                    let mut buf = [0; READ_BUF];
                    if stream.write_all(GREETING).is_ok() {
                        while let Ok(1..) = stream.read(&mut buf) {}
                    }
                    server_.open.fetch_sub(1, Relaxed);
                });
                match spawned {
                    Ok(thread) => threads.push(thread),
                    // The connection, moved into the closure, is closed.
                    Err(e) => server.record(format!("spawning a thread: {e}")),
                }
            }
            Err(e) => {
                server.record(format!("accept: {e}"));
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
    threads
}

/// The client process's and the server's problems, if any, in one line.
fn problems(client: Option<String>, server: &Server) -> Option<String> {
    let server = server.problem.lock().unwrap().take().map(|p| format!("server: {p}"));
    let both: Vec<String> = client.into_iter().chain(server).collect();
    (!both.is_empty()).then(|| both.join("; "))
}

/// Waits until the server holds `target` connections, or until it has
/// gained none for `STALL`; returns how many it holds.
fn wait_for(server: &Server, target: usize) -> usize {
    let (mut best, mut since) = (0, Instant::now());
    loop {
        let open = server.open.load(Relaxed);
        if open >= target {
            return open;
        }
        if open > best {
            (best, since) = (open, Instant::now());
        } else if since.elapsed() >= STALL {
            return open;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Waits (at most 10 s) until the server has let go of every connection.
fn wait_until_closed(server: &Server) {
    let start = Instant::now();
    while server.open.load(Relaxed) > 0 {
        if start.elapsed() > Duration::from_secs(10) {
            eprintln!("{} connections still open after 10 s", server.open.load(Relaxed));
            return;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// The client process, seen from the server's.
struct Clients {
    child: Child,
    stdin: ChildStdin,
    /// Connections it opened.
    opened: usize,
    /// Why it stopped short of N, if it did.
    error: Option<String>,
}

impl Clients {
    /// Starts the client process and waits until it has opened its
    /// connections (or failed to open more).
    fn start(addr: SocketAddr, n: usize) -> io::Result<Clients> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["--client", &addr.to_string(), &n.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().expect("piped stdin");
        let mut report = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut report)?;
        let (count, error) = report.trim_end().split_once(' ').unwrap_or((report.trim_end(), ""));
        let opened = count.parse().unwrap_or(0);
        let error = (opened < n).then(|| format!("client process: {error}"));
        Ok(Clients { child, stdin, opened, error })
    }

    /// Tells the client process to close its connections and waits for
    /// it; returns why it opened fewer than asked, if it did.
    fn close(mut self) -> io::Result<Option<String>> {
        writeln!(self.stdin, "close")?;
        drop(self.stdin);
        self.child.wait()?;
        Ok(self.error)
    }
}

/// The child: opens `n` connections to `addr`, `BATCH` at a time, each
/// batch once the previous one is greeted; writes "COUNT [ERROR]" on stdout
/// and holds the connections until stdin yields a line or closes.
fn client_process(addr: SocketAddr, n: usize) -> io::Result<()> {
    let _ = raise_fd_limit();
    let mut connections = Vec::with_capacity(n);
    let mut error = None;
    while connections.len() < n && error.is_none() {
        let first = connections.len();
        while connections.len() < n.min(first + BATCH) {
            match std::net::TcpStream::connect(addr) {
                Ok(stream) => connections.push(stream),
                Err(e) => {
                    error = Some(format!("connect: {e}"));
                    break;
                }
            }
        }
        for stream in &mut connections[first..] {
            if let Err(e) = read_greeting(stream) {
                error = Some(match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => format!(
                        "no greeting within {GREETING_TIMEOUT:?}: the server did not accept"
                    ),
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => {
                        "the server closed a connection instead of greeting it".to_string()
                    }
                    _ => format!("waiting for the server's greeting: {e}"),
                });
                break;
            }
        }
    }
    println!("{} {}", connections.len(), error.unwrap_or_default());
    io::stdout().flush()?;
    let _ = io::stdin().lock().read_line(&mut String::new());
    Ok(())
}

/// Reads the server's greeting, waiting at most `GREETING_TIMEOUT`.
fn read_greeting(stream: &mut std::net::TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(GREETING_TIMEOUT))?;
    let mut greeting = [0; GREETING.len()];
    stream.read_exact(&mut greeting)?;
    stream.set_read_timeout(None)
}

fn print_table(n: usize, weft: &Held, threads: &Held) {
    let row = |label: &str, f: &dyn Fn(&Held) -> String| {
        println!("{label:<28} {:>24} {:>24}", f(weft), f(threads));
    };
    println!();
    println!("{:<28} {:>24} {:>24}", "", "weft tasks", "threads (64 KiB stack)");
    row("connections held", &|h| format!("{} of {n}", h.held));
    row("time to hold them", &|h| format!("{:.2} s", h.took.as_secs_f64()));
    row("threads", &|h| format!("{} -> {}", h.before.threads, h.after.threads));
    row("RSS", &|h| format!("{} -> {}", mib(h.before.rss), mib(h.after.rss)));
    row("RSS growth per connection", &|h| per_connection(h.after.rss, h.before.rss, h.held));
    row("address space growth", &|h| mib(h.after.virt.saturating_sub(h.before.virt)));
    row("memory mappings", &|h| format!("{} -> {}", h.before.mappings, h.after.mappings));
    row("kernel stacks growth", &|h| mib(h.kernel_stacks));
    for (name, h) in [("weft", weft), ("threads", threads)] {
        if h.held < n {
            println!(
                "{name}: the client process opened {} connections, the server held {} of {n}: {}",
                h.opened,
                h.held,
                h.problem.as_deref().unwrap_or("no error reported")
            );
        }
    }
}

fn per_connection(after: u64, before: u64, held: usize) -> String {
    kib(after.saturating_sub(before) as f64 / held.max(1) as f64)
}

fn parse<T: std::str::FromStr>(text: &str) -> T {
    text.parse().unwrap_or_else(|_| {
        eprintln!("c10k: cannot parse {text:?}");
        exit(2)
    })
}
