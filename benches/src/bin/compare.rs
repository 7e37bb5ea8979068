//! Runs every workload on weft and on Tokio (both with
//! [`WORKER_THREADS`] workers) in turn, in one process, for several rounds,
//! and prints a markdown table of medians and the ratio weft/Tokio (lower is
//! better). The table is also written to `benches/results/latest.md`.
//!
//! Usage: `cargo run --release -p weft-benches --bin compare -- [--quick] [--rounds N]`

use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

use weft_benches::alloc::{self, CountingAlloc};
use weft_benches::report::{self, Row};
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

fn measure(opts: &Options, dog: &Watchdog) -> Vec<Row> {
    let mut rows: Vec<Row> = Workload::ALL.iter().map(|w| Row::new(w.name())).collect();
    // One discarded round first: the process's first samples pay for page
    // faults and allocator growth that later ones do not.
    eprintln!("compare: warm-up round");
    for workload in Workload::ALL {
        sample::<Weft>(workload, dog);
        sample::<Tokio>(workload, dog);
    }
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
    rows
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
    let rows = measure(&opts, &dog);
    drop(dog);

    let doc = format!(
        "# weft vs Tokio\n\n\
         Machine: {}; date {} (UTC); {WORKER_THREADS} worker threads each; \
         {} rounds, alternating which runtime goes first.\n\n\
         Time rows: µs per workload iteration (median over rounds). \
         `bytes/task`, `allocs/task`: {NUM_SPAWN} `async {{}}` tasks spawned and \
         joined, counted after a warm-up round.\n\n{}",
        report::machine(),
        report::today_utc(),
        opts.rounds,
        report::table(&rows),
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
