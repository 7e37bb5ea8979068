//! Overload: a server offered twice the CPU work it can do, without and
//! with load shedding.
//!
//! The server listens on 127.0.0.1 (a 2-worker runtime). A request is a
//! line `hash <n>\n`; the server hashes the first n KiB of a shared buffer
//! (FNV-1a, a few milliseconds of CPU) on the CPU pool
//! (`weft::task::spawn_cpu`) and answers `ok <hash in hex>\n`, or `busy\n`
//! when it sheds the request. Each connection's replies come back in the
//! order of its requests.
//!
//! First the program times one job on this machine, and from that what the
//! CPU pool can do per second (one thread per core). Then a load generator
//! in the same process (a current-thread runtime on the main thread) opens
//! 16 connections and sends requests at twice that rate for 2 s, each at a
//! fixed time whether or not earlier replies are back (an open loop: a slow
//! server does not slow the load, as with real clients), and measures each
//! reply's latency from the time its request was due. It does this twice:
//!
//! 1. **no shedding**: every request goes to `spawn_cpu`, which never
//!    refuses. The pool's queue grows for as long as the overload lasts;
//!    every request is answered, but the later ones only after all those
//!    before them: latency climbs to about the length of the overload.
//! 2. **shedding**: two rules answer `busy` instead of queueing.
//!    The queue is small (`cpu_queue_capacity` = 2 per CPU thread) and jobs
//!    go through `try_spawn_cpu`, which refuses at once when it is full
//!    (`CpuPoolFull`). And before even trying, the server looks at the
//!    runtime's own delay: a watcher task reads each worker's
//!    schedule-latency histogram (`enable_schedule_latency_histogram`: the
//!    time from a task's wake-up to its poll) every 50 ms, and while the
//!    p99 of the last window (`Histogram::since`) is above 5 ms on any
//!    worker, the server sheds every request. An accepted request waits
//!    only for the few jobs ahead of it in the small queue (longer on a
//!    machine busy with other programs: the CPU pool runs at the lowest
//!    priority, `SCHED_IDLE`, and gets only the cycles nobody else wants).
//!
//! For each run the program prints how many requests were sent, accepted
//! and refused (and by which rule), the latency of the accepted ones, the
//! CPU pool's queue-wait p99 (`cpu_queue_wait_histogram`) and the worst
//! worker's schedule-latency p99. Histogram figures are bucket bounds
//! (powers of two in µs), so they read "<= 8.19 ms". It checks that every
//! request got a correct answer, that run 1 refused none, and that run 2
//! accepted some and refused some; timing is not checked.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release -p weft-examples --example overload
//! ```

mod support;

use std::io;
use std::net::SocketAddr;
use std::process::exit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use futures_channel::mpsc;
use futures_util::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use futures_util::StreamExt;
use weft::net::{TcpListener, TcpStream};
use weft::runtime::{Builder, RuntimeMetrics};
use weft::task::JoinHandle;
use weft::time::{sleep, sleep_until, timeout, Instant};

use support::{bound, fnv1a, ms, percentile};

/// Workers of the server's runtime.
const WORKERS: usize = 2;
/// Client connections.
const CONNS: usize = 16;
/// How long the load runs.
const LOAD_FOR: Duration = Duration::from_secs(2);
/// The load's rate, in multiples of what the CPU pool can do.
const OVERLOAD: u32 = 2;
/// KiB hashed by one request (`hash <JOB_KIB>`).
const JOB_KIB: usize = 4096;
/// Waiting places per CPU thread when shedding.
const QUEUE_PER_THREAD: usize = 2;
/// How often the watcher reads the schedule latency.
const WINDOW: Duration = Duration::from_millis(50);
/// Schedule-latency p99 above which the server sheds everything.
const LATE: Duration = Duration::from_millis(5);
/// Bound on one run, should the server stop answering.
const BOUND: Duration = Duration::from_secs(60);

/// The load, as calibrated.
struct Plan {
    /// CPU threads (one per core).
    threads: usize,
    /// Gap between two requests on one connection.
    gap: Duration,
    /// Requests per connection.
    per_conn: usize,
    /// The right answer to `hash <JOB_KIB>`.
    hash: u64,
}

/// The server's state, shared by its connections.
#[derive(Default)]
struct Server {
    buffer: Arc<Vec<u8>>,
    shed: bool,
    /// The watcher's verdict on the last window: shed everything.
    late: AtomicBool,
    refused_full: AtomicU64,
    refused_late: AtomicU64,
    /// Windows the watcher looked at, and those over [`LATE`].
    windows: AtomicU64,
    late_windows: AtomicU64,
}

/// A request's answer, in the making.
enum Reply {
    Busy,
    Bad,
    Job(JoinHandle<u64>),
}

/// What the client saw: requests sent, the latencies of the `ok` replies
/// (sorted, once merged), `busy` replies, and wrong ones.
#[derive(Default)]
struct Tally {
    sent: usize,
    accepted: Vec<Duration>,
    busy: usize,
    bad: usize,
}

/// One run's figures.
struct Run {
    tally: Tally,
    server: Arc<Server>,
    took: Duration,
    queue_wait_p99: Option<Duration>,
    schedule_p99: Option<Duration>,
}

fn main() -> io::Result<()> {
    let buffer: Arc<Vec<u8>> = Arc::new((0..JOB_KIB << 10).map(|i| (i * 31 % 251) as u8).collect());
    let plan = calibrate(&buffer)?;
    let [a, b] = [false, true].map(|shed| run(shed, &plan, buffer.clone()));
    let runs = [a?, b?];

    println!("{:<28} {:>14} {:>14}", "", "no shedding", "shedding");
    let row = |label: &str, f: &dyn Fn(&Run) -> String| {
        println!("  {label:<26} {:>14} {:>14}", f(&runs[0]), f(&runs[1]));
    };
    let count = |n: &AtomicU64| n.load(Relaxed).to_string();
    row("requests sent", &|r| r.tally.sent.to_string());
    row("accepted (ok)", &|r| r.tally.accepted.len().to_string());
    row("refused (busy)", &|r| r.tally.busy.to_string());
    row("  queue full", &|r| count(&r.server.refused_full));
    row("  schedule latency", &|r| count(&r.server.refused_late));
    for (label, q) in [("accepted p50", 0.5), ("accepted p99", 0.99), ("accepted max", 1.0)] {
        row(label, &|r| ms(percentile(&r.tally.accepted, q)));
    }
    row("CPU queue wait p99", &|r| r.queue_wait_p99.map_or("-".into(), bound));
    row("schedule latency p99", &|r| r.schedule_p99.map_or("-".into(), bound));
    row("windows over 5 ms", &|r| {
        format!("{}/{}", count(&r.server.late_windows), count(&r.server.windows))
    });
    row("run took", &|r| ms(r.took));

    // The self-check: behaviour only.
    for (name, Run { tally: t, server, .. }) in ["no shedding", "shedding"].iter().zip(&runs) {
        check(t.bad == 0, &format!("{name}: {} wrong or malformed replies", t.bad));
        check(t.accepted.len() + t.busy == t.sent, &format!("{name}: a request got no answer"));
        let refused = server.refused_full.load(Relaxed) + server.refused_late.load(Relaxed);
        check(
            refused == t.busy as u64,
            &format!("{name}: refused {refused}, client saw {}", t.busy),
        );
    }
    let [plain, shedding] = runs.map(|r| r.tally);
    check(plain.busy == 0, "no shedding: a request was refused");
    check(shedding.busy > 0, "shedding: no request was refused");
    check(!shedding.accepted.is_empty(), "shedding: no request was accepted");
    Ok(())
}

/// Times one job here and plans the load: [`OVERLOAD`] times what one
/// thread per core can do.
fn calibrate(buffer: &[u8]) -> io::Result<Plan> {
    let threads = std::thread::available_parallelism()?.get();
    let times: Vec<Duration> = (0..9)
        .map(|_| {
            let start = std::time::Instant::now();
            std::hint::black_box(fnv1a(std::hint::black_box(buffer)));
            start.elapsed()
        })
        .collect();
    // The fastest: the job's cost on a free core (another busy process on
    // a shared machine only slows some of the runs).
    let job = times.into_iter().min().expect("nine runs");
    // The pool finishes `threads` jobs per `job`; the load sends
    // `OVERLOAD` times as many, spread over the connections.
    let gap = job * CONNS as u32 / (OVERLOAD * threads as u32);
    let per_conn = (LOAD_FOR.as_nanos() / gap.as_nanos()) as usize;
    println!(
        "one job (FNV-1a over {JOB_KIB} KiB) takes {} here; {threads} CPU threads do about {:.0} \
         jobs/s;\n{CONNS} connections send {:.0} requests/s for {LOAD_FOR:?} (one every {} on each)\n",
        ms(job),
        threads as f64 / job.as_secs_f64(),
        CONNS as f64 / gap.as_secs_f64(),
        ms(gap),
    );
    Ok(Plan { threads, gap, per_conn, hash: fnv1a(buffer) })
}

/// One run: a server on its own runtime, the load, the figures.
fn run(shed: bool, plan: &Plan, buffer: Arc<Vec<u8>>) -> io::Result<Run> {
    let mut builder = Builder::new_multi_thread();
    // `cpu_threads` is the default (one per core), spelled out because the
    // load's rate depends on it.
    builder.worker_threads(WORKERS).cpu_threads(plan.threads).enable_schedule_latency_histogram();
    if shed {
        builder.cpu_queue_capacity(QUEUE_PER_THREAD * plan.threads);
    }
    let rt = builder.build()?;
    let client = Builder::new_current_thread().build()?;
    let server = Arc::new(Server { buffer, shed, ..Server::default() });

    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let accepting = rt.spawn(accept(listener, server.clone()));
    // Watching in both runs shows what the rule would have seen in the first.
    let watcher = rt.spawn(watch(server.clone(), rt.metrics()));
    let start = Instant::now();
    let mut tally = client
        .block_on(async { timeout(BOUND, load(addr, plan)).await })
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the server stopped answering"))??;
    let took = start.elapsed();
    watcher.abort();
    // The client closed its connections: the handlers end.
    rt.block_on(async {
        for handler in accepting.await.expect("the accept loop")? {
            handler.await.expect("a connection")?;
        }
        io::Result::Ok(())
    })?;

    tally.accepted.sort();
    let m = rt.metrics();
    Ok(Run {
        tally,
        server,
        took,
        queue_wait_p99: m.cpu_queue_wait_histogram().percentile(0.99),
        schedule_p99: schedule_p99(&m),
    })
}

/// Accepts the [`CONNS`] connections, each served by its own task.
async fn accept(
    listener: TcpListener,
    server: Arc<Server>,
) -> io::Result<Vec<JoinHandle<io::Result<()>>>> {
    let mut handlers = Vec::with_capacity(CONNS);
    for _ in 0..CONNS {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        handlers.push(weft::spawn(serve(stream, server.clone())));
    }
    Ok(handlers)
}

/// Serves one connection until the client closes it. Each request is
/// decided (and its job submitted) as soon as it is read; a second task
/// writes the replies in order, awaiting each job in turn.
async fn serve(stream: TcpStream, server: Arc<Server>) -> io::Result<()> {
    let (rx, mut tx) = stream.into_split();
    let (queue, mut replies) = mpsc::unbounded();
    let writer = weft::spawn(async move {
        while let Some(reply) = replies.next().await {
            let line = match reply {
                Reply::Busy => "busy\n".to_string(),
                Reply::Bad => "err\n".to_string(),
                Reply::Job(job) => format!("ok {:016x}\n", job.await.expect("hash job")),
            };
            tx.write_all(line.as_bytes()).await?;
        }
        io::Result::Ok(())
    });
    let mut lines = BufReader::new(rx).lines();
    while let Some(line) = lines.next().await {
        // A send fails only once the writer has ended on an error, which
        // it returns below.
        if queue.unbounded_send(server.decide(&line?)).is_err() {
            break;
        }
    }
    drop(queue);
    writer.await.expect("a reply writer")
}

impl Server {
    /// Submits the job a request line asks for, or refuses it.
    fn decide(&self, line: &str) -> Reply {
        let kib = line.strip_prefix("hash ").and_then(|n| n.parse::<usize>().ok());
        let Some(kib) = kib.filter(|&kib| kib << 10 <= self.buffer.len()) else {
            return Reply::Bad;
        };
        let buffer = self.buffer.clone();
        let job = move || fnv1a(&buffer[..kib << 10]);
        if !self.shed {
            return Reply::Job(weft::task::spawn_cpu(job));
        }
        // The watcher runs in both runs, but only a shedding server heeds it.
        if self.late.load(Relaxed) {
            self.refused_late.fetch_add(1, Relaxed);
            return Reply::Busy;
        }
        match weft::task::try_spawn_cpu(job) {
            Ok(job) => Reply::Job(job),
            Err(_full) => {
                self.refused_full.fetch_add(1, Relaxed);
                Reply::Busy
            }
        }
    }
}

/// Every [`WINDOW`], sets `server.late` to whether some worker's
/// schedule-latency p99 over that window was above [`LATE`]. Runs until
/// aborted.
async fn watch(server: Arc<Server>, metrics: RuntimeMetrics) {
    let read = || (0..WORKERS).map(|w| metrics.worker_schedule_latency_histogram(w));
    let mut before: Vec<_> = read().collect();
    loop {
        sleep(WINDOW).await;
        let now: Vec<_> = read().collect();
        let p99 = now
            .iter()
            .zip(&before)
            .filter_map(|(now, before)| now.as_ref()?.since(before.as_ref()?).percentile(0.99))
            .max();
        let late = p99.is_some_and(|p99| p99 > LATE);
        // Relaxed: the flag and the counters carry no other data; a request
        // decided on a verdict a moment old is still decided on a recent one.
        server.late.store(late, Relaxed);
        server.windows.fetch_add(1, Relaxed);
        server.late_windows.fetch_add(u64::from(late), Relaxed);
        before = now;
    }
}

/// The worst worker's schedule-latency p99 over the whole run.
fn schedule_p99(metrics: &RuntimeMetrics) -> Option<Duration> {
    (0..WORKERS)
        .filter_map(|w| metrics.worker_schedule_latency_histogram(w)?.percentile(0.99))
        .max()
}

/// The load: [`CONNS`] connections, each sending `plan.per_conn` requests
/// one `plan.gap` apart (the connections staggered over one gap).
async fn load(addr: SocketAddr, plan: &Plan) -> io::Result<Tally> {
    let mut streams = Vec::with_capacity(CONNS);
    for _ in 0..CONNS {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        streams.push(stream);
    }
    let epoch = Instant::now();
    let (gap, per_conn, hash) = (plan.gap, plan.per_conn, plan.hash);
    let mut tasks = Vec::with_capacity(CONNS);
    for (c, stream) in streams.into_iter().enumerate() {
        let (rx, mut tx) = stream.into_split();
        let first = epoch + gap * c as u32 / CONNS as u32;
        let due = move |k: usize| first + gap * k as u32;
        let writer = weft::spawn(async move {
            for k in 0..per_conn {
                sleep_until(due(k)).await;
                tx.write_all(format!("hash {JOB_KIB}\n").as_bytes()).await?;
            }
            io::Result::Ok(tx)
        });
        tasks.push(weft::spawn(async move {
            let mut tally = Tally { sent: per_conn, ..Tally::default() };
            let mut lines = BufReader::new(rx).lines();
            for k in 0..per_conn {
                let line = lines
                    .next()
                    .await
                    .unwrap_or_else(|| Err(io::ErrorKind::UnexpectedEof.into()))?;
                // Latency from when the request was due, not from when it
                // went out, as a user waiting would count it: a send the
                // busy machine delayed hides none of the wait.
                let latency = Instant::now().saturating_duration_since(due(k));
                match line.strip_prefix("ok ").map(|hex| u64::from_str_radix(hex, 16)) {
                    Some(Ok(h)) if h == hash => tally.accepted.push(latency),
                    _ if line == "busy" => tally.busy += 1,
                    _ => tally.bad += 1,
                }
            }
            // Keep the write half open until every reply is read.
            drop(writer.await.expect("a request writer")?);
            io::Result::Ok(tally)
        }));
    }
    let mut all = Tally::default();
    for task in tasks {
        let tally = task.await.expect("a client connection")?;
        all.sent += tally.sent;
        all.accepted.extend(tally.accepted);
        all.busy += tally.busy;
        all.bad += tally.bad;
    }
    Ok(all)
}

fn check(ok: bool, what: &str) {
    if !ok {
        eprintln!("overload: self-check failed: {what}");
        exit(1);
    }
}
