//! A tour of weft in about ten seconds: network, CPU offload and timers at
//! once, on a 2-worker runtime.
//!
//! The program starts a TCP echo server on a free port of 127.0.0.1 and,
//! in the same process:
//!
//! 1. connects 3000 idle clients (in waves of 100, so as not to overflow the
//!    listen backlog of 128) and 32 active ones; each makes one checked
//!    round trip, proof that the server holds it. Both ends of every
//!    connection are in this process, so it first raises its soft limit on
//!    open files to the hard limit (and connects fewer idle clients if that
//!    is still too low);
//! 2. for 5 s, runs at the same time:
//!    - the 32 active clients, each sending 64-byte messages back to back
//!      and checking every echo;
//!    - CPU-heavy jobs (FNV-1a over an 8 MiB buffer, a few milliseconds
//!      each; one at a time) through `weft::task::spawn_cpu`, so they run
//!      on the CPU pool, below the workers: they never hold up a worker and
//!      use the cycles the echo traffic leaves;
//!    - 5000 sleeps of random durations (up to 4.5 s), all of which must fire;
//!
//!    while the 3000 idle connections stay open, each a parked task on the
//!    server and no thread;
//! 3. shuts down cleanly: every idle client makes one more round trip and
//!    closes, the server sees end of file on each connection and stops, and
//!    every task is joined.
//!
//! During the whole run a heartbeat task ticks every 2 ms
//! (`weft::time::interval`) and records how late each tick fires: the
//! event loop's latency (the timer resolution is 1 ms, so about 1 ms is the
//! floor). A progress line is printed every second; at the end, a summary:
//! connections held, echoed messages per second, heartbeat lateness p50/p99,
//! CPU jobs and timers, and per-worker polls, steals and parks from
//! `RuntimeMetrics`.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release -p weft-examples --example tour
//! ```

mod support;

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::future::{select, Either};
use futures_util::{AsyncReadExt, AsyncWriteExt};
use weft::net::{TcpListener, TcpStream};
use weft::runtime::{Builder, RuntimeMetrics};
use weft::task::{spawn_cpu, JoinSet};
use weft::time::{interval, sleep, sleep_until, timeout, Instant};

use support::{connect_in_waves, round_trip, MESSAGE_LEN};

/// Worker threads of the runtime.
const WORKERS: usize = 2;
/// Clients that connect and then stay silent until the end.
const IDLE_CLIENTS: usize = 3000;
/// Clients that echo messages back to back during the load phase.
const ACTIVE_CLIENTS: usize = 32;
/// Descriptors kept for the runtime and the rest of the process.
const SPARE_FDS: u64 = 64;
/// How long the active clients, the CPU jobs and the sleeps run.
const LOAD_FOR: Duration = Duration::from_secs(5);
/// Period of the heartbeat that measures the event loop's latency.
const HEARTBEAT: Duration = Duration::from_millis(2);
/// Bytes hashed by one CPU job.
const JOB_BYTES: usize = 8 << 20;
/// CPU jobs in flight at once on the CPU pool.
const JOBS_IN_FLIGHT: usize = 1;
/// Sleeps of random durations started at the beginning of the load phase.
const SLEEPS: usize = 5000;
/// Longest of those sleeps (shorter than `LOAD_FOR`).
const MAX_SLEEP: Duration = Duration::from_millis(4500);
/// The most a shutdown step may take before the program gives up on it.
const SHUTDOWN_WITHIN: Duration = Duration::from_secs(10);

/// Counters shared by the tasks, read by the progress lines.
#[derive(Default)]
struct Stats {
    /// Connections the server holds now, and the most it held at once.
    server_live: AtomicUsize,
    server_peak: AtomicUsize,
    /// Round trips of the active clients, checked.
    echoed: AtomicU64,
    /// CPU jobs finished, and sleeps fired.
    jobs: AtomicU64,
    sleeps: AtomicU64,
}

fn main() -> io::Result<()> {
    let fd_limit = weft_dev_support::raise_fd_limit()?;
    // Two descriptors per connection (both ends are here).
    let room = usize::try_from(fd_limit.saturating_sub(SPARE_FDS) / 2).unwrap_or(usize::MAX);
    let idle_clients = IDLE_CLIENTS.min(room.saturating_sub(ACTIVE_CLIENTS));
    if idle_clients < IDLE_CLIENTS {
        println!("open-files limit {fd_limit}: connecting {idle_clients} idle clients, not {IDLE_CLIENTS}");
    }
    let rt = Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .max_blocking_threads(8)
        .thread_name("tour-worker")
        .build()?;
    let start = std::time::Instant::now();
    let report = rt.block_on(tour(idle_clients))?;
    let wall = start.elapsed();
    print_summary(&report, &rt.metrics(), wall);
    Ok(())
}

/// What the run measured, for the summary.
struct Report {
    held: usize,
    idle_checked: usize,
    echoed: u64,
    echo_secs: f64,
    jobs: u64,
    sleeps_fired: u64,
    sleep_max_late: Duration,
    lateness: Vec<Duration>,
    served: usize,
}

/// The whole run: server, clients, load, shutdown.
async fn tour(idle_clients: usize) -> io::Result<Report> {
    let stats = Arc::new(Stats::default());
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_server, stop) = oneshot::channel();
    let server = weft::spawn(serve(listener, stop, stats.clone()));
    let stop_heartbeat = Arc::new(AtomicBool::new(false));
    let heartbeat = weft::spawn(heartbeat(stop_heartbeat.clone()));
    println!(
        "echo server on {addr}, {WORKERS} workers; heartbeat every {HEARTBEAT:?} measures \
         the event loop's latency"
    );

    // Phase 1: connect, in waves; every connection makes one round trip.
    let phase = Instant::now();
    let total = idle_clients + ACTIVE_CLIENTS;
    let mut streams = connect_in_waves(addr, total).await?;
    let held = stats.server_live.load(Relaxed);
    println!(
        "[connect] {held} connections held by the server after {:.2} s \
         ({idle_clients} idle, {ACTIVE_CLIENTS} active)",
        phase.elapsed().as_secs_f64()
    );

    // Phase 2: echo load, CPU jobs on the CPU pool and sleeps, at once.
    let phase = Instant::now();
    let end = phase + LOAD_FOR;
    let active: Vec<_> = streams
        .split_off(idle_clients)
        .into_iter()
        .enumerate()
        .map(|(id, stream)| weft::spawn(echo_client(stream, id, end, stats.clone())))
        .collect();
    let jobs = weft::spawn(cpu_jobs(end, stats.clone()));
    let sleeps = weft::spawn(sleeps(stats.clone()));
    println!(
        "[load] {LOAD_FOR:?}: {ACTIVE_CLIENTS} clients echo {MESSAGE_LEN}-byte messages, \
         CPU jobs (FNV-1a over {} MiB) via spawn_cpu, {SLEEPS} random sleeps",
        JOB_BYTES >> 20
    );
    let mut last_echoed = 0;
    let mut second = 1;
    while second <= LOAD_FOR.as_secs() {
        sleep_until(phase + Duration::from_secs(second)).await;
        let echoed = stats.echoed.load(Relaxed);
        println!(
            "  {second} s: {} msg/s echoed, {} CPU jobs done, {}/{SLEEPS} sleeps fired, \
             {} connections held",
            echoed - last_echoed,
            stats.jobs.load(Relaxed),
            stats.sleeps.load(Relaxed),
            stats.server_live.load(Relaxed)
        );
        last_echoed = echoed;
        second += 1;
    }
    let mut echoed = 0;
    for client in active {
        echoed += client.await.expect("echo client panicked")?;
    }
    let echo_secs = phase.elapsed().as_secs_f64();
    let jobs = within("CPU jobs", jobs).await?.expect("CPU job task panicked");
    let (sleeps_fired, sleep_max_late) = within("sleeps", sleeps).await?.expect("sleeps panicked");

    // Phase 3: every idle client makes one more round trip, closes and
    // waits for the server to close its end; then the server and the
    // heartbeat stop.
    let phase = Instant::now();
    let closing: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(id, stream)| weft::spawn(last_round_trip(stream, id)))
        .collect();
    let mut idle_checked = 0;
    for task in closing {
        within("closing a client", task).await?.expect("closing task panicked")?;
        idle_checked += 1;
    }
    let _ = stop_server.send(());
    let served = within("server", server).await?.expect("server panicked")?;
    stop_heartbeat.store(true, Relaxed);
    let lateness = within("heartbeat", heartbeat).await?.expect("heartbeat panicked");
    println!(
        "[shutdown] {idle_checked} idle clients checked and closed, server stopped, \
         in {:.2} s",
        phase.elapsed().as_secs_f64()
    );
    Ok(Report {
        held,
        idle_checked,
        echoed,
        echo_secs,
        jobs,
        sleeps_fired,
        sleep_max_late,
        lateness,
        served,
    })
}

/// Awaits `task` for at most `SHUTDOWN_WITHIN`, so that the run stays bounded.
async fn within<T>(what: &str, task: impl Future<Output = T>) -> io::Result<T> {
    timeout(SHUTDOWN_WITHIN, task).await.map_err(|_| {
        io::Error::new(io::ErrorKind::TimedOut, format!("{what}: not done in {SHUTDOWN_WITHIN:?}"))
    })
}

/// The echo server: accepts until `stop` fires, then waits for every
/// connection to end (the clients close them). Returns how many it served.
async fn serve(
    listener: TcpListener,
    mut stop: oneshot::Receiver<()>,
    stats: Arc<Stats>,
) -> io::Result<usize> {
    let mut connections = JoinSet::new();
    loop {
        match select(pin!(listener.accept()), &mut stop).await {
            Either::Left((Ok((stream, _)), _)) => {
                connections.spawn(echo(stream, stats.clone()));
            }
            Either::Left((Err(e), _)) => {
                // Out of descriptors or similar: pause rather than spin
                // (`echo.rs` shows a full backoff).
                eprintln!("accept: {e}; retrying in 10 ms");
                sleep(Duration::from_millis(10)).await;
            }
            Either::Right(_) => break,
        }
    }
    drop(listener);
    let mut served = 0;
    while let Some(result) = connections.join_next().await {
        if let Err(e) = result.expect("connection task panicked") {
            eprintln!("server connection: {e}");
        }
        served += 1;
    }
    Ok(served)
}

/// One server connection: writes back everything it reads until the peer
/// closes, then closes its end.
async fn echo(mut stream: TcpStream, stats: Arc<Stats>) -> io::Result<()> {
    let live = stats.server_live.fetch_add(1, Relaxed) + 1;
    stats.server_peak.fetch_max(live, Relaxed);
    let mut buf = [0; 1024];
    let result = async {
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return stream.close().await;
            }
            stream.write_all(&buf[..n]).await?;
        }
    }
    .await;
    stats.server_live.fetch_sub(1, Relaxed);
    result
}

/// An active client: round trips back to back until `end`, then closes.
/// Returns the number of round trips.
async fn echo_client(
    mut stream: TcpStream,
    id: usize,
    end: Instant,
    stats: Arc<Stats>,
) -> io::Result<u64> {
    let mut done = 0;
    while Instant::now() < end {
        done += 1;
        round_trip(&mut stream, id, done as usize).await?;
        stats.echoed.fetch_add(1, Relaxed);
    }
    close(stream).await?;
    Ok(done)
}

/// An idle client's end: one more round trip (the connection survived the
/// load), then close.
async fn last_round_trip(mut stream: TcpStream, id: usize) -> io::Result<()> {
    round_trip(&mut stream, id, 1).await?;
    close(stream).await
}

/// Closes the client's write side and waits for the server to close its
/// end (end of file).
async fn close(mut stream: TcpStream) -> io::Result<()> {
    stream.close().await?;
    let mut rest = [0; 64];
    while stream.read(&mut rest).await? != 0 {}
    Ok(())
}

/// Submits CPU jobs to the CPU pool, `JOBS_IN_FLIGHT` at a time, until
/// `end`; checks every digest. Returns the number of jobs done.
async fn cpu_jobs(end: Instant, stats: Arc<Stats>) -> u64 {
    let buffer: Arc<Vec<u8>> = Arc::new((0..JOB_BYTES).map(|i| (i * 31 % 251) as u8).collect());
    let reference = {
        let buffer = buffer.clone();
        spawn_cpu(move || fnv1a(&buffer)).await.expect("hash job panicked")
    };
    let mut in_flight: JoinSet<u64> = JoinSet::new();
    let mut done = 1;
    stats.jobs.store(done, Relaxed);
    loop {
        while Instant::now() < end && in_flight.len() < JOBS_IN_FLIGHT {
            let buffer = buffer.clone();
            in_flight.spawn(async move {
                spawn_cpu(move || fnv1a(&buffer)).await.expect("hash job panicked")
            });
        }
        let Some(digest) = in_flight.join_next().await else { break };
        assert_eq!(digest.expect("hash task panicked"), reference, "hash job: wrong digest");
        done += 1;
        stats.jobs.store(done, Relaxed);
    }
    done
}

/// FNV-1a over the buffer: plain CPU work that never yields.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `SLEEPS` tasks, each sleeping a random duration up to `MAX_SLEEP`.
/// Returns how many fired and the greatest lateness.
async fn sleeps(stats: Arc<Stats>) -> (u64, Duration) {
    let mut rng = Rng(0x7e57_1a7e);
    let mut set = JoinSet::new();
    for _ in 0..SLEEPS {
        let duration = Duration::from_micros(rng.below(MAX_SLEEP.as_micros() as u64));
        let stats = stats.clone();
        set.spawn(async move {
            let deadline = Instant::now() + duration;
            sleep_until(deadline).await;
            stats.sleeps.fetch_add(1, Relaxed);
            Instant::now() - deadline
        });
    }
    let (mut fired, mut max_late) = (0, Duration::ZERO);
    while let Some(late) = set.join_next().await {
        fired += 1;
        max_late = max_late.max(late.expect("sleep task panicked"));
    }
    (fired, max_late)
}

/// Ticks every `HEARTBEAT` until `stop`; returns each tick's lateness,
/// sorted.
async fn heartbeat(stop: Arc<AtomicBool>) -> Vec<Duration> {
    let mut ticks = interval(HEARTBEAT);
    let mut lateness = Vec::new();
    while !stop.load(Relaxed) {
        let scheduled = ticks.tick().await;
        lateness.push(Instant::now() - scheduled);
    }
    lateness.sort();
    lateness
}

/// A small pseudo-random generator (splitmix64): enough for sleep durations.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n.max(1)
    }
}

fn print_summary(r: &Report, m: &RuntimeMetrics, wall: Duration) {
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    println!();
    println!("summary ({:.1} s, {} workers)", wall.as_secs_f64(), m.num_workers());
    println!(
        "  connections held     {} ({} idle checked after the load, {} served in all)",
        r.held, r.idle_checked, r.served
    );
    println!(
        "  echo                 {} round trips of {MESSAGE_LEN} bytes by {ACTIVE_CLIENTS} \
         clients: {:.0} msg/s",
        r.echoed,
        r.echoed as f64 / r.echo_secs
    );
    println!(
        "  event-loop latency   p50 {}, p99 {}, max {} ({} heartbeat ticks)",
        ms(percentile(&r.lateness, 0.50)),
        ms(percentile(&r.lateness, 0.99)),
        ms(percentile(&r.lateness, 1.0)),
        r.lateness.len()
    );
    println!(
        "  CPU jobs             {} hashed {} MiB each (CPU pool: {} jobs completed, {} threads; \
         queue wait p99 {})",
        r.jobs,
        JOB_BYTES >> 20,
        m.cpu_jobs_completed(),
        m.cpu_threads(),
        m.cpu_queue_wait_histogram().percentile(0.99).map_or("-".to_owned(), ms)
    );
    println!(
        "  timers fired         {}/{SLEEPS} random sleeps (at most {} late) + {} heartbeat ticks",
        r.sleeps_fired,
        ms(r.sleep_max_late),
        r.lateness.len()
    );
    for w in 0..m.num_workers() {
        println!(
            "  worker {w}             {} polls, {} steals, {} parks",
            m.worker_poll_count(w),
            m.worker_steal_count(w),
            m.worker_park_count(w)
        );
    }
    assert_eq!(r.sleeps_fired, SLEEPS as u64, "some sleeps did not fire");
}

/// The `q` quantile of sorted durations (0 for none).
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}
