//! Runs every workload on weft and on Tokio (both with
//! [`WORKER_THREADS`] workers) in turn, in one process, for several rounds,
//! and prints a markdown table of medians and the ratio weft/Tokio (lower is
//! better). The table is also written to `benches/results/latest.md`.
//!
//! After the scheduler workloads come the timer rows (see
//! `weft_benches::timers`): `timers_fire` (total time and p50/p99
//! lateness), `timers_cancel` (time per sleep) and memory per pending timer;
//! then the blocking-pool rows (see `weft_benches::blocking`):
//! `spawn_blocking` throughput and spawn-to-start latency; then the
//! networking rows (see `weft_benches::net`): `tcp_echo` (time per message)
//! and `idle_conns` (memory per idle connection, each sample in a child
//! process: this binary run with a hidden `--idle-conns-child` argument);
//! and, in the same `net` group, `http_hello` (see `weft_benches::http`:
//! hyper 1.x server and client on each runtime, time per request).
//!
//! Last come the current-thread rows (group `current_thread`, labelled
//! `ct: ...`): weft's `Builder::new_current_thread` against Tokio's, both
//! with all drivers enabled, on the scheduler workloads that make sense on
//! one thread (`Workload::CURRENT_THREAD`), `timers_cancel` and `tcp_echo`.
//! Every task there runs on the thread inside `block_on`: the workloads
//! wait for their tasks in `block_on` rather than on a channel (see
//! `weft_benches::workloads::done_channel`).
//!
//! Then the stall-detection rows (group `stall`, labelled `stall on/off:
//! ...`, in a table of their own): weft with stall detection on (the
//! default builder, [`Weft`]) against weft with it off
//! (`stall_threshold(None)`, [`WeftNoStall`]), same process, alternating
//! which goes first per round, on `spawn_many_local`, `yield_many`,
//! `ping_pong` and `chained_spawn` (`STALL_WORKLOADS`), plus `bytes/task`;
//! the ratio is on/off, so 1.00 means detection costs nothing.
//!
//! A full run also draws the weft/Tokio ratios as a bar chart,
//! `benches/results/latest.svg` (see `weft_benches::chart`); the on/off
//! ratios are not in it (its scale and parity line are Tokio's).
//!
//! Usage: `cargo run --release -p weft-benches --bin compare -- [--quick] [--rounds N]
//! [--only GROUP,...]`; `--only` (groups `scheduler`, `timers`, `blocking`,
//! `net`, `current_thread`, `stall`) runs some groups of rows and leaves
//! `results/latest.md` and `results/latest.svg` alone.

use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

use weft_benches::alloc::{self, CountingAlloc};
use weft_benches::blocking::{self, LATENCY_BURST, LATENCY_JOBS, THROUGHPUT_JOBS};
use weft_benches::chart;
use weft_benches::http::{self, HyperRt, HTTP_CONNS, HTTP_REQS};
use weft_benches::net::{self, ECHO_CONNS, ECHO_MSGS, ECHO_MSG_SIZE};
use weft_benches::report::{self, Row};
use weft_benches::timers::{
    self, CANCEL_MS, CANCEL_PER_TASK, CANCEL_SLEEPS, CANCEL_TASKS, FIRE_LIGHT_TIMERS, FIRE_MAX_MS,
    FIRE_TIMERS, MEM_SLEEP, MEM_TIMERS,
};
use weft_benches::workloads::NUM_SPAWN;
use weft_benches::{Flavor, Rt, Tokio, Weft, WeftNoStall, Workload, WORKER_THREADS};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Rounds by default; odd, so the median is a real sample.
const DEFAULT_ROUNDS: usize = 7;
/// Rounds with `--quick`.
const QUICK_ROUNDS: usize = 3;
/// Upper bound accepted for `--rounds`.
const MAX_ROUNDS: usize = 101;
/// Repetitions of the allocation measurement per runtime.
const ALLOC_REPS: usize = 3;
/// Timed `timers_fire` runs per sample (after one warm-up run).
const FIRE_RUNS: u64 = 3;
/// Timed `timers_fire_light` runs per sample: more, since the light runs are
/// short and their lateness depends on the sub-millisecond phase at which a
/// worker happens to wake, which varies from run to run.
const FIRE_LIGHT_RUNS: u64 = 10;
/// Timed `timers_cancel` iterations per sample (after one warm-up iteration).
const CANCEL_ITERS: u64 = 3;
/// Messages per connection in the untimed warm-up run of `tcp_echo`.
const ECHO_WARM_MSGS: usize = 100;
/// Requests per connection in the untimed warm-up run of `http_hello`.
const HTTP_WARM_REQS: usize = 50;
/// Hidden first argument: run one `idle_conns` measurement and print it
/// (see `idle_conns_sample`).
const IDLE_CHILD_ARG: &str = "--idle-conns-child";
/// A single sample taking longer than this means a runtime hung: abort.
const SAMPLE_LIMIT: Duration = Duration::from_secs(180);
/// The workloads of the `stall` rows: the per-poll hot paths, where the
/// work stall detection adds to each poll would show.
const STALL_WORKLOADS: [Workload; 4] =
    [Workload::SpawnManyLocal, Workload::YieldMany, Workload::PingPong, Workload::ChainedSpawn];

/// The groups of rows; `--only` picks some (for investigating one group;
/// `results/latest.md` is only written by a run of all of them).
#[derive(Clone, Copy)]
struct Groups {
    scheduler: bool,
    timers: bool,
    blocking: bool,
    net: bool,
    current_thread: bool,
    stall: bool,
}

impl Groups {
    const ALL: Groups = Groups {
        scheduler: true,
        timers: true,
        blocking: true,
        net: true,
        current_thread: true,
        stall: true,
    };
    const NAMES: &'static str = "scheduler, timers, blocking, net, current_thread, stall";

    fn parse(list: &str) -> Result<Groups, String> {
        let mut groups = Groups {
            scheduler: false,
            timers: false,
            blocking: false,
            net: false,
            current_thread: false,
            stall: false,
        };
        for name in list.split(',') {
            match name.trim() {
                "scheduler" => groups.scheduler = true,
                "timers" => groups.timers = true,
                "blocking" => groups.blocking = true,
                "net" => groups.net = true,
                "current_thread" => groups.current_thread = true,
                "stall" => groups.stall = true,
                other => {
                    return Err(format!("unknown group {other:?} (groups: {})", Groups::NAMES))
                }
            }
        }
        Ok(groups)
    }

    fn all(self) -> bool {
        self.scheduler
            && self.timers
            && self.blocking
            && self.net
            && self.current_thread
            && self.stall
    }
}

struct Options {
    rounds: usize,
    groups: Groups,
    /// Open-file soft limit after raising it to the hard limit.
    fd_limit: u64,
}

fn parse_args() -> Result<Options, String> {
    let mut rounds = DEFAULT_ROUNDS;
    let mut groups = Groups::ALL;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => rounds = QUICK_ROUNDS,
            "--rounds" => {
                let n = args.next().ok_or("--rounds needs a value")?;
                rounds = n
                    .parse()
                    .ok()
                    .filter(|r| (1..=MAX_ROUNDS).contains(r))
                    .ok_or_else(|| format!("--rounds takes 1..={MAX_ROUNDS}, got {n:?}"))?;
            }
            "--only" => {
                groups = Groups::parse(&args.next().ok_or("--only needs a list of groups")?)?;
            }
            "-h" | "--help" => {
                return Err(format!(
                    "usage: compare [--quick] [--rounds N] [--only GROUP,...] (groups: {})",
                    Groups::NAMES
                ));
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let fd_limit = weft_dev_support::raise_fd_limit()
        .map_err(|e| format!("cannot read the open-file limit: {e}"))?;
    Ok(Options { rounds, groups, fd_limit })
}

/// Aborts the process if no sample completes within [`SAMPLE_LIMIT`], so a
/// hung runtime cannot hang the benchmark. Stops when dropped.
struct Watchdog(Sender<String>);

impl Watchdog {
    fn start() -> Watchdog {
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut current = String::from("startup");
            loop {
                match rx.recv_timeout(SAMPLE_LIMIT) {
                    Ok(label) => current = label,
                    Err(RecvTimeoutError::Disconnected) => return,
                    Err(RecvTimeoutError::Timeout) => {
                        eprintln!("compare: `{current}` ran over {SAMPLE_LIMIT:?}; aborting");
                        std::process::exit(3);
                    }
                }
            }
        });
        Watchdog(tx)
    }

    /// Records that the sample `label` is starting.
    fn starting(&self, label: String) {
        // The watchdog thread only goes away when the process exits.
        let _ = self.0.send(label);
    }
}

/// One timed sample of `workload` on a fresh `R` runtime of `flavor`:
/// untimed warm-up iterations (a quarter as many), then the mean time of
/// `iters_per_sample` iterations, in µs.
fn sample<R: Rt>(workload: Workload, flavor: Flavor, dog: &Watchdog) -> f64 {
    dog.starting(format!("{} ({flavor:?}) on {}", workload.name(), R::NAME));
    let rt: R = flavor.build();
    let iters = workload.iters_per_sample();
    workload.run(&rt, (iters / 4).max(1));
    let elapsed = workload.run(&rt, iters);
    drop(rt);
    elapsed.as_secs_f64() * 1e6 / iters as f64
}

/// The allocation cost per trivial task on a fresh `R` runtime.
fn alloc_sample<R: Rt>(dog: &Watchdog) -> Option<alloc::PerTask> {
    dog.starting(format!("bytes/task on {}", R::NAME));
    let rt = R::with_workers(WORKER_THREADS);
    alloc::per_task(&rt, NUM_SPAWN)
}

/// One `timers_fire` sample of `timers` sleeps on a fresh `R` runtime: a
/// warm-up run, then `runs` timed runs. Returns the mean µs per run and the
/// p50 and p99 lateness (µs) over all the timed runs' sleeps.
fn fire_sample<R: Rt>(timers: usize, runs: u64, dog: &Watchdog) -> (f64, f64, f64) {
    dog.starting(format!("timers_fire ({timers}) on {}", R::NAME));
    let rt = R::with_workers(WORKER_THREADS);
    timers::timers_fire(&rt, 0, timers);
    let mut total = Duration::ZERO;
    let mut lateness = Vec::with_capacity(timers * runs as usize);
    for run in 1..=runs {
        let result = timers::timers_fire(&rt, run, timers);
        total += result.elapsed;
        lateness.extend(result.lateness_ns);
    }
    drop(rt);
    let us = |ns: Option<u64>| ns.map_or(f64::NAN, |ns| ns as f64 / 1e3);
    let p50 = us(timers::percentile(&mut lateness, 50.0));
    let p99 = us(timers::percentile(&mut lateness, 99.0));
    (total.as_secs_f64() * 1e6 / runs as f64, p50, p99)
}

/// One `timers_cancel` sample on a fresh `R` runtime of `flavor`: ns per
/// sleep over [`CANCEL_ITERS`] iterations, after one warm-up iteration.
fn cancel_sample<R: Rt>(flavor: Flavor, dog: &Watchdog) -> f64 {
    dog.starting(format!("timers_cancel ({flavor:?}) on {}", R::NAME));
    let rt: R = flavor.build();
    timers::timers_cancel(&rt, 1);
    let elapsed = timers::timers_cancel(&rt, CANCEL_ITERS);
    drop(rt);
    elapsed.as_secs_f64() * 1e9 / (CANCEL_ITERS as f64 * CANCEL_SLEEPS as f64)
}

/// Memory per pending timer on a fresh `R` runtime.
fn timer_memory_sample<R: Rt>(dog: &Watchdog) -> Option<timers::TimerMemory> {
    dog.starting(format!("timer memory on {}", R::NAME));
    let rt = R::with_workers(WORKER_THREADS);
    timers::timer_memory(&rt, MEM_TIMERS)
}

/// The timer rows, filled round by round.
struct TimerRows {
    fire: Row,
    p50: Row,
    p99: Row,
    light_p50: Row,
    light_p99: Row,
    cancel: Row,
}

impl TimerRows {
    fn new() -> TimerRows {
        TimerRows {
            fire: Row::new("timers_fire (µs/run)"),
            p50: Row::new("timers_fire lateness p50 (µs)"),
            p99: Row::new("timers_fire lateness p99 (µs)"),
            light_p50: Row::new("timers_fire_light lateness p50 (µs)"),
            light_p99: Row::new("timers_fire_light lateness p99 (µs)"),
            cancel: Row::new("timers_cancel (ns/sleep)"),
        }
    }

    /// One sample of each timer workload on each runtime, `weft_first` or not.
    fn sample(&mut self, weft_first: bool, dog: &Watchdog) {
        let both = |timers: usize, runs: u64| {
            if weft_first {
                let w = fire_sample::<Weft>(timers, runs, dog);
                (w, fire_sample::<Tokio>(timers, runs, dog))
            } else {
                let t = fire_sample::<Tokio>(timers, runs, dog);
                (fire_sample::<Weft>(timers, runs, dog), t)
            }
        };
        let (w, t) = both(FIRE_TIMERS, FIRE_RUNS);
        let (lw, lt) = both(FIRE_LIGHT_TIMERS, FIRE_LIGHT_RUNS);
        for (row, wv, tv) in [
            (&mut self.fire, w.0, t.0),
            (&mut self.p50, w.1, t.1),
            (&mut self.p99, w.2, t.2),
            (&mut self.light_p50, lw.1, lt.1),
            (&mut self.light_p99, lw.2, lt.2),
        ] {
            row.weft.push(wv);
            row.tokio.push(tv);
        }
        if weft_first {
            self.cancel.weft.push(cancel_sample::<Weft>(Flavor::MultiThread, dog));
            self.cancel.tokio.push(cancel_sample::<Tokio>(Flavor::MultiThread, dog));
        } else {
            self.cancel.tokio.push(cancel_sample::<Tokio>(Flavor::MultiThread, dog));
            self.cancel.weft.push(cancel_sample::<Weft>(Flavor::MultiThread, dog));
        }
    }

    fn into_rows(self) -> [Row; 6] {
        [self.fire, self.p50, self.p99, self.light_p50, self.light_p99, self.cancel]
    }
}

/// A blocking-pool sample's result and the pool threads its warm-up left
/// alive.
struct BlockingSample<T> {
    value: T,
    threads: usize,
}

/// Builds a fresh `R` runtime, warms its blocking pool with one untimed run
/// of the workload (`jobs` in batches of `batch`) and returns it with the
/// number of threads the warm-up started (the pool threads alive).
fn warm_runtime<R: Rt>(jobs: usize, batch: usize) -> (R, usize) {
    let rt = R::with_workers(WORKER_THREADS);
    let before = weft_dev_support::threads();
    blocking::warm(&rt, jobs, batch);
    let threads = weft_dev_support::threads().saturating_sub(before);
    (rt, threads as usize)
}

/// `spawn_blocking` throughput on a fresh, warmed `R` runtime: ns per job.
fn blocking_throughput_sample<R: Rt>(dog: &Watchdog) -> BlockingSample<f64> {
    dog.starting(format!("spawn_blocking throughput on {}", R::NAME));
    let (rt, threads) = warm_runtime::<R>(THROUGHPUT_JOBS, THROUGHPUT_JOBS);
    let elapsed = blocking::throughput(&rt, THROUGHPUT_JOBS);
    drop(rt);
    BlockingSample { value: elapsed.as_secs_f64() * 1e9 / THROUGHPUT_JOBS as f64, threads }
}

/// Spawn-to-start latency in batches of `batch` on a fresh, warmed `R`
/// runtime: (round trip µs per job, p50 µs, p99 µs).
fn blocking_latency_sample<R: Rt>(batch: usize, dog: &Watchdog) -> BlockingSample<[f64; 3]> {
    dog.starting(format!("spawn_blocking latency (batch {batch}) on {}", R::NAME));
    let (rt, threads) = warm_runtime::<R>(LATENCY_JOBS, batch);
    let mut run = blocking::latency(&rt, LATENCY_JOBS, batch);
    drop(rt);
    let us = |ns: Option<u64>| ns.map_or(f64::NAN, |ns| ns as f64 / 1e3);
    let p50 = us(timers::percentile(&mut run.start_ns, 50.0));
    let p99 = us(timers::percentile(&mut run.start_ns, 99.0));
    let round_trip = run.elapsed.as_secs_f64() * 1e6 / LATENCY_JOBS as f64;
    BlockingSample { value: [round_trip, p50, p99], threads }
}

/// Pool threads alive after the warm-up, per workload, from the last round:
/// (weft, Tokio).
#[derive(Default)]
struct PoolThreads {
    throughput: (usize, usize),
    one: (usize, usize),
    burst: (usize, usize),
}

/// The blocking-pool rows, filled round by round.
struct BlockingRows {
    throughput: Row,
    one_round_trip: Row,
    one_p50: Row,
    one_p99: Row,
    burst_p50: Row,
    burst_p99: Row,
    threads: PoolThreads,
}

impl BlockingRows {
    fn new() -> BlockingRows {
        BlockingRows {
            throughput: Row::new("spawn_blocking throughput (ns/job)"),
            one_round_trip: Row::new("spawn_blocking round trip, one at a time (µs/job)"),
            one_p50: Row::new("spawn_blocking start latency p50, one at a time (µs)"),
            one_p99: Row::new("spawn_blocking start latency p99, one at a time (µs)"),
            burst_p50: Row::new(format!(
                "spawn_blocking start latency p50, bursts of {LATENCY_BURST} (µs)"
            )),
            burst_p99: Row::new(format!(
                "spawn_blocking start latency p99, bursts of {LATENCY_BURST} (µs)"
            )),
            threads: PoolThreads::default(),
        }
    }

    /// One sample of each blocking workload on each runtime, `weft_first`
    /// or not.
    fn sample(&mut self, weft_first: bool, dog: &Watchdog) {
        fn both<T>(
            weft_first: bool,
            weft: impl Fn() -> BlockingSample<T>,
            tokio: impl Fn() -> BlockingSample<T>,
        ) -> (BlockingSample<T>, BlockingSample<T>) {
            if weft_first {
                let w = weft();
                (w, tokio())
            } else {
                let t = tokio();
                (weft(), t)
            }
        }
        let (w, t) = both(
            weft_first,
            || blocking_throughput_sample::<Weft>(dog),
            || blocking_throughput_sample::<Tokio>(dog),
        );
        self.throughput.weft.push(w.value);
        self.throughput.tokio.push(t.value);
        self.threads.throughput = (w.threads, t.threads);

        let (w, t) = both(
            weft_first,
            || blocking_latency_sample::<Weft>(1, dog),
            || blocking_latency_sample::<Tokio>(1, dog),
        );
        for (i, row) in
            [&mut self.one_round_trip, &mut self.one_p50, &mut self.one_p99].into_iter().enumerate()
        {
            row.weft.push(w.value[i]);
            row.tokio.push(t.value[i]);
        }
        self.threads.one = (w.threads, t.threads);

        let (w, t) = both(
            weft_first,
            || blocking_latency_sample::<Weft>(LATENCY_BURST, dog),
            || blocking_latency_sample::<Tokio>(LATENCY_BURST, dog),
        );
        for (i, row) in [&mut self.burst_p50, &mut self.burst_p99].into_iter().enumerate() {
            row.weft.push(w.value[i + 1]);
            row.tokio.push(t.value[i + 1]);
        }
        self.threads.burst = (w.threads, t.threads);
    }

    fn into_rows(self) -> (Vec<Row>, PoolThreads) {
        let rows = vec![
            self.throughput,
            self.one_round_trip,
            self.one_p50,
            self.one_p99,
            self.burst_p50,
            self.burst_p99,
        ];
        (rows, self.threads)
    }
}

/// `tcp_echo` on a fresh `R` runtime of `flavor`: a warm-up run of
/// [`ECHO_WARM_MSGS`] messages per connection, then ns per message of a
/// timed run.
fn echo_sample<R: Rt>(flavor: Flavor, dog: &Watchdog) -> f64 {
    dog.starting(format!("tcp_echo ({flavor:?}) on {}", R::NAME));
    let rt: R = flavor.build();
    net::tcp_echo(&rt, ECHO_CONNS, ECHO_WARM_MSGS);
    let elapsed = net::tcp_echo(&rt, ECHO_CONNS, ECHO_MSGS);
    drop(rt);
    elapsed.as_secs_f64() * 1e9 / (ECHO_CONNS * ECHO_MSGS) as f64
}

/// `http_hello` on a fresh `R` runtime: a warm-up run of
/// [`HTTP_WARM_REQS`] requests per connection, then ns per request of a
/// timed run.
fn http_sample<R: HyperRt>(dog: &Watchdog) -> f64 {
    dog.starting(format!("http_hello on {}", R::NAME));
    let rt = R::with_workers(WORKER_THREADS);
    http::http_hello(&rt, HTTP_CONNS, HTTP_WARM_REQS);
    let elapsed = http::http_hello(&rt, HTTP_CONNS, HTTP_REQS);
    drop(rt);
    elapsed.as_secs_f64() * 1e9 / (HTTP_CONNS * HTTP_REQS) as f64
}

/// The networking rows measured round by round.
struct NetRows {
    echo: Row,
    http: Row,
}

impl NetRows {
    fn new() -> NetRows {
        NetRows {
            echo: Row::new(format!(
                "tcp_echo ({ECHO_CONNS} conns × {ECHO_MSGS} msgs of {ECHO_MSG_SIZE} B; ns/msg)"
            )),
            http: Row::new(format!(
                "http_hello (hyper, {HTTP_CONNS} keep-alive conns × {HTTP_REQS} reqs; ns/req)"
            )),
        }
    }

    fn sample(&mut self, weft_first: bool, dog: &Watchdog) {
        if weft_first {
            self.echo.weft.push(echo_sample::<Weft>(Flavor::MultiThread, dog));
            self.echo.tokio.push(echo_sample::<Tokio>(Flavor::MultiThread, dog));
            self.http.weft.push(http_sample::<Weft>(dog));
            self.http.tokio.push(http_sample::<Tokio>(dog));
        } else {
            self.echo.tokio.push(echo_sample::<Tokio>(Flavor::MultiThread, dog));
            self.echo.weft.push(echo_sample::<Weft>(Flavor::MultiThread, dog));
            self.http.tokio.push(http_sample::<Tokio>(dog));
            self.http.weft.push(http_sample::<Weft>(dog));
        }
    }
}

/// The current-thread rows (`ct: ...`), measured round by round.
struct CurrentThreadRows {
    /// One per [`Workload::CURRENT_THREAD`] entry, in that order.
    sched: Vec<Row>,
    cancel: Row,
    echo: Row,
}

impl CurrentThreadRows {
    fn new() -> CurrentThreadRows {
        CurrentThreadRows {
            sched: Workload::CURRENT_THREAD
                .iter()
                .map(|w| Row::new(format!("ct: {}", w.current_thread_name())))
                .collect(),
            cancel: Row::new("ct: timers_cancel (ns/sleep)"),
            echo: Row::new(format!(
                "ct: tcp_echo ({ECHO_CONNS} conns × {ECHO_MSGS} msgs of {ECHO_MSG_SIZE} B; ns/msg)"
            )),
        }
    }

    /// One sample of each current-thread workload on each runtime,
    /// `weft_first` or not.
    fn sample(&mut self, weft_first: bool, dog: &Watchdog) {
        fn both(weft_first: bool, row: &mut Row, weft: impl Fn() -> f64, tokio: impl Fn() -> f64) {
            if weft_first {
                row.weft.push(weft());
                row.tokio.push(tokio());
            } else {
                row.tokio.push(tokio());
                row.weft.push(weft());
            }
        }
        const CT: Flavor = Flavor::CurrentThread;
        for (&workload, row) in Workload::CURRENT_THREAD.iter().zip(&mut self.sched) {
            both(
                weft_first,
                row,
                || sample::<Weft>(workload, CT, dog),
                || sample::<Tokio>(workload, CT, dog),
            );
        }
        both(
            weft_first,
            &mut self.cancel,
            || cancel_sample::<Weft>(CT, dog),
            || cancel_sample::<Tokio>(CT, dog),
        );
        both(
            weft_first,
            &mut self.echo,
            || echo_sample::<Weft>(CT, dog),
            || echo_sample::<Tokio>(CT, dog),
        );
    }

    fn into_rows(self) -> impl Iterator<Item = Row> {
        self.sched.into_iter().chain([self.cancel, self.echo])
    }
}

/// The stall-detection rows (`stall on/off: ...`): weft with detection on
/// ([`Weft`], the default builder) in the rows' `weft` column, off
/// ([`WeftNoStall`]) in their `tokio` column.
struct StallRows {
    /// One per [`STALL_WORKLOADS`] entry, in that order.
    sched: Vec<Row>,
}

impl StallRows {
    fn new() -> StallRows {
        StallRows {
            sched: STALL_WORKLOADS
                .iter()
                .map(|w| Row::new(format!("stall on/off: {}", w.name())))
                .collect(),
        }
    }

    /// One sample of each workload with detection on and off, `on_first`
    /// or not.
    fn sample(&mut self, on_first: bool, dog: &Watchdog) {
        const MT: Flavor = Flavor::MultiThread;
        for (&workload, row) in STALL_WORKLOADS.iter().zip(&mut self.sched) {
            if on_first {
                row.weft.push(sample::<Weft>(workload, MT, dog));
                row.tokio.push(sample::<WeftNoStall>(workload, MT, dog));
            } else {
                row.tokio.push(sample::<WeftNoStall>(workload, MT, dog));
                row.weft.push(sample::<Weft>(workload, MT, dog));
            }
        }
    }

    /// The rows, with `bytes/task` on and off measured now.
    fn into_rows(self, dog: &Watchdog) -> Vec<Row> {
        let mut bytes = Row::new("stall on/off: bytes/task");
        for rep in 0..ALLOC_REPS {
            let (on, off) = if rep % 2 == 0 {
                (alloc_sample::<Weft>(dog), alloc_sample::<WeftNoStall>(dog))
            } else {
                let off = alloc_sample::<WeftNoStall>(dog);
                (alloc_sample::<Weft>(dog), off)
            };
            bytes.weft.extend(on.map(|p| p.bytes));
            bytes.tokio.extend(off.map(|p| p.bytes));
        }
        let mut rows = self.sched;
        rows.push(bytes);
        rows
    }
}

/// The `idle_conns` measurement of `runtime` ("weft" or "tokio") with
/// `conns` connections, in a child process (this binary with
/// [`IDLE_CHILD_ARG`]), so each runtime starts from a fresh heap and
/// resident set rather than reusing pages the previous sample freed.
fn idle_conns_sample(runtime: &str, conns: usize, dog: &Watchdog) -> Option<net::IdleConns> {
    dog.starting(format!("idle_conns ({conns}) on {runtime}"));
    let exe = std::env::current_exe().ok()?;
    let out = std::process::Command::new(exe)
        .args([IDLE_CHILD_ARG, runtime, &conns.to_string()])
        .output()
        .map_err(|e| eprintln!("compare: cannot start the idle_conns child: {e}"))
        .ok()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let parsed = stdout.lines().find_map(|line| {
        let mut fields = line.strip_prefix("idle_conns ")?.split_whitespace();
        let conns = fields.next()?.parse().ok()?;
        let rss_per_conn = fields.next()?.parse().ok()?;
        let heap: f64 = fields.next()?.parse().ok()?;
        Some(net::IdleConns {
            conns,
            rss_per_conn,
            heap_per_conn: (!heap.is_nan()).then_some(heap),
        })
    });
    if parsed.is_none() {
        eprintln!(
            "compare: idle_conns on {runtime} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parsed
}

/// The child side of [`idle_conns_sample`]: measures on a fresh runtime
/// and prints one `idle_conns CONNS RSS_PER_CONN HEAP_PER_CONN` line.
fn idle_conns_child(runtime: &str, conns: &str) -> ExitCode {
    let Ok(conns) = conns.parse::<usize>() else {
        eprintln!("compare: bad connection count {conns:?}");
        return ExitCode::from(2);
    };
    if let Err(e) = weft_dev_support::raise_fd_limit() {
        eprintln!("compare: cannot raise the open-file limit: {e}");
    }
    fn measure<R: Rt>(conns: usize) -> net::IdleConns {
        let rt = R::with_workers(WORKER_THREADS);
        let result = net::idle_conns(&rt, conns);
        drop(rt);
        result
    }
    let result = match runtime {
        "weft" => measure::<Weft>(conns),
        "tokio" => measure::<Tokio>(conns),
        other => {
            eprintln!("compare: unknown runtime {other:?}");
            return ExitCode::from(2);
        }
    };
    println!(
        "idle_conns {} {} {}",
        result.conns,
        result.rss_per_conn,
        result.heap_per_conn.unwrap_or(f64::NAN)
    );
    ExitCode::SUCCESS
}

/// The `idle_conns` rows, [`ALLOC_REPS`] child processes per runtime, and
/// the connection count used.
fn idle_conns_rows(fd_limit: u64, dog: &Watchdog) -> (Vec<Row>, usize) {
    let conns = net::idle_conns_target(fd_limit);
    let mut rss = Row::new(format!("idle_conns RSS growth/conn ({conns} conns; bytes)"));
    let mut heap = Row::new(format!("idle_conns heap growth/conn ({conns} conns; bytes)"));
    for rep in 0..ALLOC_REPS {
        let (w, t) = if rep % 2 == 0 {
            (idle_conns_sample("weft", conns, dog), idle_conns_sample("tokio", conns, dog))
        } else {
            let t = idle_conns_sample("tokio", conns, dog);
            (idle_conns_sample("weft", conns, dog), t)
        };
        for (sample, rss_col, heap_col) in
            [(w, &mut rss.weft, &mut heap.weft), (t, &mut rss.tokio, &mut heap.tokio)]
        {
            let Some(sample) = sample else { continue };
            rss_col.push(sample.rss_per_conn);
            if let Some(h) = sample.heap_per_conn {
                heap_col.push(h);
            }
        }
    }
    (vec![rss, heap], conns)
}

/// Rows for memory per pending timer, plus each runtime's `size_of::<Sleep>()`.
fn timer_memory_rows(dog: &Watchdog) -> (Vec<Row>, Option<usize>, Option<usize>) {
    let mut bytes = Row::new("bytes/pending timer, warm (heap + size_of Sleep)");
    let mut heap = Row::new("heap bytes/pending timer, warm (runtime only)");
    let mut allocs = Row::new("allocs/pending timer, warm (incl. the Box)");
    let mut live = Row::new("heap growth/pending timer, fresh rt (incl. Box)");
    let (mut weft_size, mut tokio_size) = (None, None);
    for rep in 0..ALLOC_REPS {
        let (w, t) = if rep % 2 == 0 {
            (timer_memory_sample::<Weft>(dog), timer_memory_sample::<Tokio>(dog))
        } else {
            let t = timer_memory_sample::<Tokio>(dog);
            (timer_memory_sample::<Weft>(dog), t)
        };
        for (mem, is_weft) in [(w, true), (t, false)] {
            let Some(m) = mem else { continue };
            let pick = |row: &mut Row, v: f64| {
                if is_weft {
                    row.weft.push(v)
                } else {
                    row.tokio.push(v)
                }
            };
            pick(&mut bytes, m.bytes);
            pick(&mut heap, m.bytes - m.sleep_size as f64);
            pick(&mut allocs, m.allocs);
            pick(&mut live, m.live_first);
            *(if is_weft { &mut weft_size } else { &mut tokio_size }) = Some(m.sleep_size);
        }
    }
    (vec![bytes, heap, allocs, live], weft_size, tokio_size)
}

/// Everything `measure` found.
struct Measured {
    rows: Vec<Row>,
    /// The `stall on/off` rows (empty if not run).
    stall_rows: Vec<Row>,
    weft_sleep_size: Option<usize>,
    tokio_sleep_size: Option<usize>,
    pool_threads: PoolThreads,
    /// Connections per `idle_conns` sample (0 if not run).
    idle_conns: usize,
}

fn measure(opts: &Options, dog: &Watchdog) -> Measured {
    let groups = opts.groups;
    let mut rows: Vec<Row> = Vec::new();
    let mut sched_rows: Vec<Row> = Workload::ALL.iter().map(|w| Row::new(w.name())).collect();
    // One discarded round first: the process's first samples pay for page
    // faults and allocator growth that later ones do not.
    eprintln!("compare: warm-up round");
    if groups.scheduler {
        for workload in Workload::ALL {
            sample::<Weft>(workload, Flavor::MultiThread, dog);
            sample::<Tokio>(workload, Flavor::MultiThread, dog);
        }
    }
    let mut timer_rows = TimerRows::new();
    if groups.timers {
        let mut discard = TimerRows::new();
        discard.sample(true, dog);
    }
    let mut blocking_rows = BlockingRows::new();
    let mut net_rows = NetRows::new();
    if groups.net {
        eprintln!("compare: warm-up tcp_echo, http_hello");
        NetRows::new().sample(true, dog);
    }
    let mut ct_rows = CurrentThreadRows::new();
    if groups.current_thread {
        eprintln!("compare: warm-up current_thread");
        CurrentThreadRows::new().sample(true, dog);
    }
    let mut stall_rows = StallRows::new();
    if groups.stall {
        eprintln!("compare: warm-up stall");
        StallRows::new().sample(true, dog);
    }
    for round in 0..opts.rounds {
        eprintln!("compare: round {}/{}", round + 1, opts.rounds);
        // Alternate which runtime goes first to cancel drift.
        let weft_first = round % 2 == 0;
        if groups.scheduler {
            for (workload, row) in Workload::ALL.iter().zip(&mut sched_rows) {
                if weft_first {
                    row.weft.push(sample::<Weft>(*workload, Flavor::MultiThread, dog));
                    row.tokio.push(sample::<Tokio>(*workload, Flavor::MultiThread, dog));
                } else {
                    row.tokio.push(sample::<Tokio>(*workload, Flavor::MultiThread, dog));
                    row.weft.push(sample::<Weft>(*workload, Flavor::MultiThread, dog));
                }
            }
        }
        if groups.timers {
            timer_rows.sample(weft_first, dog);
        }
        if groups.blocking {
            blocking_rows.sample(weft_first, dog);
        }
        if groups.net {
            net_rows.sample(weft_first, dog);
        }
        if groups.current_thread {
            ct_rows.sample(weft_first, dog);
        }
        if groups.stall {
            stall_rows.sample(weft_first, dog);
        }
    }

    if groups.scheduler {
        rows.extend(sched_rows);
        let mut bytes = Row::new("bytes/task");
        let mut allocs = Row::new("allocs/task");
        for rep in 0..ALLOC_REPS {
            let (w, t) = if rep % 2 == 0 {
                (alloc_sample::<Weft>(dog), alloc_sample::<Tokio>(dog))
            } else {
                let t = alloc_sample::<Tokio>(dog);
                (alloc_sample::<Weft>(dog), t)
            };
            for (per_task, bytes_col, allocs_col) in
                [(w, &mut bytes.weft, &mut allocs.weft), (t, &mut bytes.tokio, &mut allocs.tokio)]
            {
                if let Some(p) = per_task {
                    bytes_col.push(p.bytes);
                    allocs_col.push(p.allocs);
                }
            }
        }
        rows.push(bytes);
        rows.push(allocs);
    }
    let (mut weft_sleep_size, mut tokio_sleep_size) = (None, None);
    if groups.timers {
        rows.extend(timer_rows.into_rows());
        let memory_rows;
        (memory_rows, weft_sleep_size, tokio_sleep_size) = timer_memory_rows(dog);
        rows.extend(memory_rows);
    }
    let (pool_rows, pool_threads) = blocking_rows.into_rows();
    if groups.blocking {
        rows.extend(pool_rows);
    }
    let mut idle_conns = 0;
    if groups.net {
        rows.push(net_rows.echo);
        rows.push(net_rows.http);
        let idle_rows;
        (idle_rows, idle_conns) = idle_conns_rows(opts.fd_limit, dog);
        rows.extend(idle_rows);
    }
    if groups.current_thread {
        rows.extend(ct_rows.into_rows());
    }
    let stall_rows = if groups.stall { stall_rows.into_rows(dog) } else { Vec::new() };
    Measured { rows, stall_rows, weft_sleep_size, tokio_sleep_size, pool_threads, idle_conns }
}

fn fmt_size(size: Option<usize>) -> String {
    size.map_or_else(|| "n/a".to_owned(), |s| format!("{s} B"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, runtime, conns] = args.as_slice() {
        if flag == IDLE_CHILD_ARG {
            return idle_conns_child(runtime, conns);
        }
    }
    let opts = match parse_args() {
        Ok(opts) => opts,
        Err(msg) => {
            eprintln!("compare: {msg}");
            return ExitCode::from(2);
        }
    };
    let dog = Watchdog::start();
    let measured = measure(&opts, &dog);
    drop(dog);

    let doc = format!(
        "# weft vs Tokio\n\n\
         Machine: {}; date {} (UTC); {WORKER_THREADS} worker threads each \
         (`ct:` rows: current-thread runtimes); {} rounds, alternating which \
         runtime goes first.\n\n\
         Time rows: µs per workload iteration (median over rounds). \
         `bytes/task`, `allocs/task`: {NUM_SPAWN} `async {{}}` tasks spawned and \
         joined, counted after two warm-up rounds (the first with all of them \
         alive at once, so tables of live tasks are at their size for \
         {NUM_SPAWN} whatever the timing).\n\n\
         Timer rows (every sleep created and first polled in a task on a worker): \
         `timers_fire`: {FIRE_TIMERS} tasks, one sleep each, durations uniform in \
         1..={FIRE_MAX_MS} ms; µs per run (spawn + insert + fire + wake, mean of \
         {FIRE_RUNS} runs per sample after a warm-up run) and lateness = task resumed \
         − deadline, p50/p99 over the sample's {fire_sleeps} sleeps (a cost: lower is \
         better); `timers_fire_light`: the same with {FIRE_LIGHT_TIMERS} tasks and \
         {FIRE_LIGHT_RUNS} runs per sample, so lateness is timer precision with no \
         spawn backlog (both runtimes round deadlines up to 1 ms ticks, so expect \
         0.5–1.5 ms, varying with the sub-ms phase at which workers wake). \
         `timers_cancel`: {CANCEL_TASKS} tasks × {CANCEL_PER_TASK} sleeps \
         ({}..={} ms) each created, polled once (registers) and dropped (deregisters); \
         ns per sleep over {CANCEL_ITERS} iterations after a warm-up one. \
         Memory: one task holds {MEM_TIMERS} pending {MEM_SLEEP:?} sleeps, each \
         `Box::pin`ned and polled once, twice on the same worker. `…, warm` rows: the \
         second round; `bytes/pending timer, warm` = bytes allocated per timer = heap \
         bytes the runtime allocates per timer + `size_of::<Sleep>()` (the Box), the \
         fair sum since Tokio keeps its timer entry inline in the `Sleep` while weft \
         keeps a wheel entry in a per-worker slab; that slab keeps its capacity, so \
         warm it allocates nothing. `heap growth/pending timer, fresh rt` = allocated \
         − freed per timer in the first round on a fresh runtime: the Box plus the \
         growth of the runtime's timer tables (weft's slab doubles, so this is the \
         entry size times capacity/{MEM_TIMERS}). `size_of::<Sleep>()`: weft {}, \
         Tokio {}.\n\n\
         Blocking-pool rows (`weft::task::spawn_blocking` vs `tokio::task::spawn_blocking`, \
         both pools at their defaults: 512 threads at most, 10 s keep-alive): every job \
         is submitted from a task on a worker, which awaits its JoinHandle; each sample \
         runs on a fresh runtime whose pool is first **warmed** by one untimed run of \
         the same workload, so the threads it needs are already alive and idle. \
         `spawn_blocking throughput`: {THROUGHPUT_JOBS} tiny closures (a counter \
         increment) submitted back to back, then all awaited; ns per job. `one at a \
         time`: {LATENCY_JOBS} jobs, each awaited before the next is submitted (an \
         idle thread is always there, so no queueing); round trip = run time / jobs; \
         start latency = closure start − `Instant` taken just before the \
         `spawn_blocking` call, p50/p99 over the sample's jobs. `bursts of \
         {LATENCY_BURST}`: {LATENCY_BURST} jobs submitted back to back, then all \
         awaited, until {LATENCY_JOBS}. Pool threads alive after the warm-up (last \
         round, weft/Tokio): throughput {}/{}, one at a time {}/{}, bursts {}/{}.\n\n\
         Networking rows (`weft::net` with `futures_util::{{AsyncReadExt, \
         AsyncWriteExt}}` vs `tokio::net` with `tokio::io`; 127.0.0.1 only, both ends \
         in the runtime under test, `TCP_NODELAY` on every stream): `tcp_echo`: a \
         task on a worker accepts {ECHO_CONNS} connections, spawning an echo task per \
         connection; one client task per connection writes {ECHO_MSG_SIZE} B and reads \
         the echo back, {ECHO_MSGS} times; ns per message = time from spawning the \
         clients to the last one done (connection setup untimed) / {echo_msgs}, on a \
         fresh runtime after a warm-up run of {ECHO_WARM_MSGS} messages per \
         connection. `idle_conns`: in a fresh child process per sample ({ALLOC_REPS} \
         per runtime, alternating), a task opens {idle_conns} connections one after \
         the other (connect, accept), each end with a task pending in a 64 B read: \
         {idle_fds} descriptors; the open-file limit here is {fd_limit}, so {idle_note}. \
         Growth of the resident set (`/proc/self/statm`) and of the live heap \
         (counting allocator) from before the listener is bound to after every reader \
         has registered, per connection (two sockets, two tasks); kernel socket \
         buffers are in neither. `http_hello`: hyper 1.x on each runtime (weft: \
         `weft::hyper::WeftIo` over `weft::net::TcpStream`; Tokio: hyper-util's \
         `TokioIo`), no hyper timer on either side; a task accepts {HTTP_CONNS} \
         connections, serving each with `hyper::server::conn::http1` and a \
         `service_fn` answering `Hello, World!`; one client task per connection does \
         `hyper::client::conn::http1::handshake` (its connection driven by a spawned \
         task) and sends {HTTP_REQS} keep-alive `GET /` one after the other, reading \
         each response body in full; ns per request = time from spawning the clients \
         (TCP connections already open) to the last one done / {http_reqs}, on a fresh \
         runtime after a warm-up run of {HTTP_WARM_REQS} requests per connection.\n\n\
         Current-thread rows (`ct: ...`): the same workloads on weft's \
         `Builder::new_current_thread()` and Tokio's `Builder::new_current_thread()`, \
         both `enable_all`: every task runs on the one thread inside `block_on`, \
         which is also where the workload waits for them (its tasks signal through a \
         channel whose receiver is awaited in `block_on`, with a {done_timeout_s} s \
         timeout sleep beside it). Root tasks are spawned through the handle from \
         outside `block_on` (they wait in the injector until `block_on` starts), \
         then spawn the rest from inside. `ct: spawn_many_remote_queued`: \
         {NUM_SPAWN} empty tasks spawned through the handle while no thread is in \
         `block_on`, then their join handles awaited in `block_on` (the \
         multi-thread `spawn_many_remote_idle` code). \
         `ct: spawn_many_remote_thread`: another thread spawns {NUM_SPAWN} tasks \
         through the handle while `block_on` waits for the last one (remote \
         spawns racing the runtime thread, which parks and is woken whenever it \
         drains the injector). `ct: timers_cancel`, `ct: tcp_echo`: as the \
         multi-thread rows, on one thread.\n\n\
         Stall-detection rows (`stall on/off: ...`, the second table): weft with \
         stall detection on (the default builder: 100 ms threshold, a monitor \
         thread that looks every 10 ms while a worker is unparked) against weft \
         with it off (`Builder::stall_threshold(None)`: no monitor thread), \
         {WORKER_THREADS} workers each, in the same process, alternating which \
         goes first per round; the workloads as in the first table, and \
         `bytes/task` as there. A ratio on/off of 1.00 means detection costs \
         nothing. What a worker does per poll for the monitor (publishing the \
         task it polls) it does in both, so these rows price the monitor thread \
         and its wake-ups.\n\n{}{}",
        report::machine(),
        report::today_utc(),
        opts.rounds,
        CANCEL_MS.0,
        CANCEL_MS.1,
        fmt_size(measured.weft_sleep_size),
        fmt_size(measured.tokio_sleep_size),
        measured.pool_threads.throughput.0,
        measured.pool_threads.throughput.1,
        measured.pool_threads.one.0,
        measured.pool_threads.one.1,
        measured.pool_threads.burst.0,
        measured.pool_threads.burst.1,
        report::table(&measured.rows),
        if measured.stall_rows.is_empty() {
            String::new()
        } else {
            format!(
                "\n## Stall detection on/off\n\n{}",
                report::table_between(&measured.stall_rows, "on", "off")
            )
        },
        fire_sleeps = FIRE_TIMERS * FIRE_RUNS as usize,
        echo_msgs = ECHO_CONNS * ECHO_MSGS,
        http_reqs = HTTP_CONNS * HTTP_REQS,
        done_timeout_s = weft_benches::workloads::DONE_TIMEOUT.as_secs(),
        idle_conns = measured.idle_conns,
        idle_fds = 2 * measured.idle_conns,
        fd_limit = opts.fd_limit,
        idle_note = if measured.idle_conns < net::IDLE_CONNS {
            format!(
                "{} connections ({} fds) plus the process's own would not fit: {} are used",
                net::IDLE_CONNS,
                2 * net::IDLE_CONNS,
                measured.idle_conns
            )
        } else {
            format!("all {} fit", net::IDLE_CONNS)
        },
    );
    println!("{doc}");
    if !opts.groups.all() {
        eprintln!("compare: --only ran some groups: results/latest.md left as it was");
        return ExitCode::SUCCESS;
    }

    let svg = chart::svg(
        &measured.rows,
        "weft vs Tokio: median cost ratio weft/Tokio per row",
        &format!(
            "Machine: {}; date {} (UTC); {WORKER_THREADS} worker threads each \
             (ct: current-thread); {} rounds. Rows without a ratio are left out.",
            report::machine(),
            report::today_utc(),
            opts.rounds
        ),
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("latest.md"), &doc))
        .and_then(|()| std::fs::write(dir.join("latest.svg"), &svg));
    match written {
        Ok(()) => {
            eprintln!(
                "compare: wrote {} and {}",
                dir.join("latest.md").display(),
                dir.join("latest.svg").display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("compare: cannot write {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
