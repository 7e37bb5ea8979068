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
//! hyper 1.x server and client on each runtime, time per request) and
//! `axum_hello` (see `weft_benches::axum`: one axum `Router` under
//! `weft::hyper::serve` and under `axum::serve`, time per request).
//!
//! Last come the current-thread rows (group `current_thread`, labelled
//! `ct: ...`): weft's `Builder::new_current_thread` against Tokio's, both
//! with all drivers enabled, on the scheduler workloads that make sense on
//! one thread (`Workload::CURRENT_THREAD`), `timers_cancel` and `tcp_echo`.
//! Every task there runs on the thread inside `block_on`: the workloads
//! wait for their tasks in `block_on` rather than on a channel (see
//! `weft_benches::workloads::done_channel`).
//!
//! Then the file rows (group `fs`, see `weft_benches::fs`):
//! `fs_read_small`, `fs_random_read` (mean and p99) and `fs_write_sync`,
//! `weft::fs` on its default path (the workers' io_uring rings where the
//! kernel allows them) against `tokio::fs`; the run also prints how many
//! blocking-pool jobs weft ran during its read rows (0 on the ring path).
//!
//! Then the stall-detection rows (group `stall`, labelled `stall on/off:
//! ...`, in a table of their own): weft with stall detection on (the
//! default builder, [`Weft`]) against weft with it off
//! (`stall_threshold(None)`, [`WeftNoStall`]), same process, alternating
//! which goes first per round, on `spawn_many_local`, `yield_many`,
//! `ping_pong` and `chained_spawn` (`STALL_WORKLOADS`), plus `bytes/task`;
//! the ratio is on/off, so 1.00 means detection costs nothing.
//!
//! Last, the CPU-bound rows (group `cpu`, in a table of their own; see
//! `weft_benches::cpu`): heartbeat tasks' lateness p99 with no jobs, with a
//! CPU-bound job every 12 ms and with a batch of 32 at once, and the
//! batch's jobs per second, for weft's `spawn_cpu` (at `SCHED_IDLE` and at
//! `Background`), weft's and Tokio's `spawn_blocking`, and Tokio with
//! rayon; ratios over each Tokio row. Each round starts with the next
//! variant.
//!
//! A full run also draws the weft/Tokio ratios as a bar chart,
//! `benches/results/latest.svg` (see `weft_benches::chart`); the on/off
//! ratios are not in it (its scale and parity line are Tokio's).
//!
//! Usage: `cargo run --release -p weft-benches --bin compare -- [--quick] [--rounds N]
//! [--only GROUP,...]`; `--only` (groups `scheduler`, `timers`, `blocking`,
//! `net`, `current_thread`, `stall`, `cpu`, `fs`) runs some groups of rows and leaves
//! `results/latest.md` and `results/latest.svg` alone.

use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

use weft_benches::alloc::{self, CountingAlloc};
use weft_benches::axum::{self, AxumRt};
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

mod args;
mod blocking_rows;
mod cpu_rows;
mod ct_rows;
mod fs_rows;
mod net_rows;
mod stall_rows;
mod timer_rows;
mod watchdog;

use args::{parse_args, Options};
use blocking_rows::{BlockingRows, PoolThreads};
use cpu_rows::CpuRows;
use ct_rows::CurrentThreadRows;
use fs_rows::FsRows;
use net_rows::{
    idle_conns_child, idle_conns_rows, NetRows, ECHO_WARM_MSGS, HTTP_WARM_REQS, IDLE_CHILD_ARG,
};
use stall_rows::StallRows;
use timer_rows::{timer_memory_rows, TimerRows, CANCEL_ITERS, FIRE_LIGHT_RUNS, FIRE_RUNS};
use watchdog::Watchdog;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Repetitions of the allocation measurement per runtime.
pub(crate) const ALLOC_REPS: usize = 3;

/// One timed sample of `workload` on a fresh `R` runtime of `flavor`:
/// untimed warm-up iterations (a quarter as many), then the mean time of
/// `iters_per_sample` iterations, in µs.
pub(crate) fn sample<R: Rt>(workload: Workload, flavor: Flavor, dog: &Watchdog) -> f64 {
    dog.starting(format!("{} ({flavor:?}) on {}", workload.name(), R::NAME));
    let rt: R = flavor.build();
    let iters = workload.iters_per_sample();
    workload.run(&rt, (iters / 4).max(1));
    let elapsed = workload.run(&rt, iters);
    drop(rt);
    elapsed.as_secs_f64() * 1e6 / iters as f64
}

/// The allocation cost per trivial task on a fresh `R` runtime.
pub(crate) fn alloc_sample<R: Rt>(dog: &Watchdog) -> Option<alloc::PerTask> {
    dog.starting(format!("bytes/task on {}", R::NAME));
    let rt = R::with_workers(WORKER_THREADS);
    alloc::per_task(&rt, NUM_SPAWN)
}

/// Everything `measure` found.
struct Measured {
    rows: Vec<Row>,
    /// The `stall on/off` rows (empty if not run).
    stall_rows: Vec<Row>,
    /// The `cpu` section of the report (empty if not run).
    cpu_section: String,
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
        eprintln!("compare: warm-up tcp_echo, http_hello, axum_hello");
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
    let mut fs_rows = groups.fs.then(FsRows::new);
    if let Some(rows) = &mut fs_rows {
        eprintln!("compare: warm-up fs");
        rows.sample(true, dog);
        *rows = rows.emptied();
    }
    let mut cpu_rows = CpuRows::new();
    if groups.cpu {
        eprintln!("compare: warm-up cpu");
        cpu_rows.warm_up(dog);
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
        if groups.cpu {
            cpu_rows.sample(round, dog);
        }
        if let Some(rows) = &mut fs_rows {
            rows.sample(weft_first, dog);
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
        rows.push(net_rows.axum);
        let idle_rows;
        (idle_rows, idle_conns) = idle_conns_rows(opts.fd_limit, dog);
        rows.extend(idle_rows);
    }
    if groups.current_thread {
        rows.extend(ct_rows.into_rows());
    }
    if let Some(fs) = fs_rows {
        eprintln!(
            "compare: fs: weft io_uring {}, blocking-pool jobs during weft's read rows: {}",
            if fs.weft_io_uring { "on" } else { "off (fallback)" },
            fs.weft_read_blocking_jobs
        );
        rows.extend(fs.into_rows());
    }
    let stall_rows = if groups.stall { stall_rows.into_rows(dog) } else { Vec::new() };
    let cpu_section = if groups.cpu { cpu_rows.section() } else { String::new() };
    Measured {
        rows,
        stall_rows,
        cpu_section,
        weft_sleep_size,
        tokio_sleep_size,
        pool_threads,
        idle_conns,
    }
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
         runtime after a warm-up run of {HTTP_WARM_REQS} requests per connection. \
         `axum_hello`: the same clients and count, against one axum `Router` \
         (`GET /` answering `Hello, World!`) served by `weft::hyper::serve` on weft \
         and `axum::serve` on Tokio (both hyper-util's `auto::Builder`, a task per \
         connection, `TCP_NODELAY`, graceful shutdown armed; weft's gives hyper a \
         timer, so its 30 s header-read timeout is armed per request, axum's does \
         not).\n\n\
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
         nothing. With detection on a worker publishes each poll for the monitor \
         (a seqlock write before the poll, a store after); off, it publishes \
         nothing: these rows price that and the monitor thread's wake-ups. The \
         CPU-bound rows (`cpu`) are described with their table, the last.\n\n{}{}{}",
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
        measured.cpu_section,
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
