//! Runs every workload on weft and on Tokio (both with
//! [`WORKER_THREADS`] workers) in turn, in one process, for several rounds,
//! and prints a markdown table of medians and the ratio weft/Tokio (lower is
//! better). The table is also written to `benches/results/latest.md`.
//!
//! After the scheduler workloads come the timer rows (see
//! `weft_benches::timers`): `timers_fire` (total time and p50/p99
//! lateness), `timers_cancel` (time per sleep) and memory per pending timer.
//!
//! Usage: `cargo run --release -p weft-benches --bin compare -- [--quick] [--rounds N]`

use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

use weft_benches::alloc::{self, CountingAlloc};
use weft_benches::report::{self, Row};
use weft_benches::timers::{
    self, CANCEL_MS, CANCEL_PER_TASK, CANCEL_SLEEPS, CANCEL_TASKS, FIRE_LIGHT_TIMERS, FIRE_MAX_MS,
    FIRE_TIMERS, MEM_SLEEP, MEM_TIMERS,
};
use weft_benches::workloads::NUM_SPAWN;
use weft_benches::{Rt, Tokio, Weft, Workload, WORKER_THREADS};

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
/// A single sample taking longer than this means a runtime hung: abort.
const SAMPLE_LIMIT: Duration = Duration::from_secs(180);

struct Options {
    rounds: usize,
}

fn parse_args() -> Result<Options, String> {
    let mut rounds = DEFAULT_ROUNDS;
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
            "-h" | "--help" => {
                return Err("usage: compare [--quick] [--rounds N]".to_owned());
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Options { rounds })
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

/// One timed sample of `workload` on a fresh `R` runtime: untimed warm-up
/// iterations (a quarter as many), then the mean time of `iters_per_sample`
/// iterations, in µs.
fn sample<R: Rt>(workload: Workload, dog: &Watchdog) -> f64 {
    dog.starting(format!("{} on {}", workload.name(), R::NAME));
    let rt = R::with_workers(WORKER_THREADS);
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

/// One `timers_cancel` sample on a fresh `R` runtime: ns per sleep over
/// [`CANCEL_ITERS`] iterations, after one warm-up iteration.
fn cancel_sample<R: Rt>(dog: &Watchdog) -> f64 {
    dog.starting(format!("timers_cancel on {}", R::NAME));
    let rt = R::with_workers(WORKER_THREADS);
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
            self.cancel.weft.push(cancel_sample::<Weft>(dog));
            self.cancel.tokio.push(cancel_sample::<Tokio>(dog));
        } else {
            self.cancel.tokio.push(cancel_sample::<Tokio>(dog));
            self.cancel.weft.push(cancel_sample::<Weft>(dog));
        }
    }

    fn into_rows(self) -> [Row; 6] {
        [self.fire, self.p50, self.p99, self.light_p50, self.light_p99, self.cancel]
    }
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
    weft_sleep_size: Option<usize>,
    tokio_sleep_size: Option<usize>,
}

fn measure(opts: &Options, dog: &Watchdog) -> Measured {
    let mut rows: Vec<Row> = Workload::ALL.iter().map(|w| Row::new(w.name())).collect();
    // One discarded round first: the process's first samples pay for page
    // faults and allocator growth that later ones do not.
    eprintln!("compare: warm-up round");
    for workload in Workload::ALL {
        sample::<Weft>(workload, dog);
        sample::<Tokio>(workload, dog);
    }
    let mut timer_rows = TimerRows::new();
    let mut discard = TimerRows::new();
    discard.sample(true, dog);
    for round in 0..opts.rounds {
        eprintln!("compare: round {}/{}", round + 1, opts.rounds);
        for (workload, row) in Workload::ALL.iter().zip(&mut rows) {
            // Alternate which runtime goes first to cancel drift.
            if round % 2 == 0 {
                row.weft.push(sample::<Weft>(*workload, dog));
                row.tokio.push(sample::<Tokio>(*workload, dog));
            } else {
                row.tokio.push(sample::<Tokio>(*workload, dog));
                row.weft.push(sample::<Weft>(*workload, dog));
            }
        }
        timer_rows.sample(round % 2 == 0, dog);
    }

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
    rows.extend(timer_rows.into_rows());
    let (memory_rows, weft_sleep_size, tokio_sleep_size) = timer_memory_rows(dog);
    rows.extend(memory_rows);
    Measured { rows, weft_sleep_size, tokio_sleep_size }
}

fn fmt_size(size: Option<usize>) -> String {
    size.map_or_else(|| "n/a".to_owned(), |s| format!("{s} B"))
}

fn main() -> ExitCode {
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
         Machine: {}; date {} (UTC); {WORKER_THREADS} worker threads each; \
         {} rounds, alternating which runtime goes first.\n\n\
         Time rows: µs per workload iteration (median over rounds). \
         `bytes/task`, `allocs/task`: {NUM_SPAWN} `async {{}}` tasks spawned and \
         joined, counted after a warm-up round.\n\n\
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
         Tokio {}.\n\n{}",
        report::machine(),
        report::today_utc(),
        opts.rounds,
        CANCEL_MS.0,
        CANCEL_MS.1,
        fmt_size(measured.weft_sleep_size),
        fmt_size(measured.tokio_sleep_size),
        report::table(&measured.rows),
        fire_sleeps = FIRE_TIMERS * FIRE_RUNS as usize,
    );
    println!("{doc}");

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    let written =
        std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(dir.join("latest.md"), &doc));
    match written {
        Ok(()) => {
            eprintln!("compare: wrote {}", dir.join("latest.md").display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("compare: cannot write {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
