//! Runs one scheduler workload a fixed number of times on one runtime and
//! exits: a target for profilers that count instructions (callgrind), where
//! `compare`'s rounds, warm-up and other rows would only add noise.
//!
//! Usage: `profile_workload RUNTIME FLAVOR WORKLOAD [ITERS]`, with RUNTIME
//! `weft` or `tokio`, FLAVOR `ct` (current-thread) or `mt` (multi-threaded,
//! `WORKER_THREADS` workers), WORKLOAD a name from `Workload::name` and
//! ITERS (default 1, at most 1000) the workload's iterations. The cost of
//! one unit of work is the difference between two runs with different ITERS
//! divided by the units added, which cancels the process and runtime set-up:
//!
//! ```text
//! cargo build --release -p weft-benches --bin profile_workload
//! valgrind --tool=callgrind --callgrind-out-file=cg.weft.1 \
//!     target/release/profile_workload weft ct yield_many 1
//! valgrind --tool=callgrind --callgrind-out-file=cg.weft.3 \
//!     target/release/profile_workload weft ct yield_many 3
//! callgrind_annotate cg.weft.3 | head -40
//! ```

use std::process::ExitCode;

use weft_benches::{Rt, Tokio, Weft, Workload, WORKER_THREADS};

/// Every workload, for looking one up by name.
const ALL: [Workload; 7] = [
    Workload::SpawnManyLocal,
    Workload::SpawnManyRemoteIdle,
    Workload::SpawnManyRemoteBusy,
    Workload::YieldMany,
    Workload::PingPong,
    Workload::ChainedSpawn,
    Workload::SpawnManyRemoteThread,
];

/// Upper bound on ITERS, so a typo cannot start an hours-long run under a
/// profiler.
const MAX_ITERS: u64 = 1000;

fn usage() -> ExitCode {
    let names: Vec<_> = ALL.iter().map(|w| w.name()).collect();
    eprintln!(
        "usage: profile_workload weft|tokio ct|mt WORKLOAD [ITERS<={MAX_ITERS}]\n\
         workloads: {}",
        names.join(", ")
    );
    ExitCode::from(2)
}

fn run<R: Rt>(current_thread: bool, workload: Workload, iters: u64) {
    let rt = if current_thread { R::current_thread() } else { R::with_workers(WORKER_THREADS) };
    let elapsed = workload.run(&rt, iters);
    println!(
        "{} {} {}: {iters} iterations in {:.3} ms",
        R::NAME,
        if current_thread { "ct" } else { "mt" },
        workload.name(),
        elapsed.as_secs_f64() * 1e3
    );
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !(3..=4).contains(&args.len()) {
        return usage();
    }
    let current_thread = match args[1].as_str() {
        "ct" => true,
        "mt" => false,
        _ => return usage(),
    };
    let Some(workload) = ALL.iter().copied().find(|w| w.name() == args[2]) else {
        return usage();
    };
    let iters = match args.get(3).map(|s| s.parse::<u64>()) {
        None => 1,
        Some(Ok(n)) if (1..=MAX_ITERS).contains(&n) => n,
        Some(_) => return usage(),
    };
    match args[0].as_str() {
        "weft" => run::<Weft>(current_thread, workload, iters),
        "tokio" => run::<Tokio>(current_thread, workload, iters),
        _ => return usage(),
    }
    ExitCode::SUCCESS
}
