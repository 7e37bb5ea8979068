//! Runs one scheduler workload a fixed number of times on one runtime and
//! exits: a target for profilers that count instructions (callgrind), where
//! `compare`'s rounds, warm-up and other rows would only add noise.
//!
//! Usage: `profile_workload RUNTIME FLAVOR WORKLOAD [ITERS]`, with RUNTIME
//! `weft` or `tokio`, FLAVOR `ct` (current-thread), `mt` (multi-threaded,
//! `WORKER_THREADS` workers) or `mt1` (multi-threaded, one worker),
//! WORKLOAD a name from `Workload::name`, `http_hello` or `axum_hello`, and
//! ITERS (default 1, at most 1000) the workload's iterations; for
//! `http_hello` and `axum_hello`, ITERS is the requests each of its
//! [`HTTP_PROFILE_CONNS`] keep-alive connections sends (server and hyper
//! client both in the process, so a count covers both sides). The cost of one unit of work is the difference
//! between two runs with different ITERS divided by the units added, which
//! cancels the process and runtime set-up (and, for the HTTP ones, the
//! connection set-up and teardown):
//!
//! ```text
//! cargo build --release -p weft-benches --bin profile_workload
//! valgrind --tool=callgrind --callgrind-out-file=cg.weft.1 \
//!     target/release/profile_workload weft ct yield_many 1
//! valgrind --tool=callgrind --callgrind-out-file=cg.weft.3 \
//!     target/release/profile_workload weft ct yield_many 3
//! callgrind_annotate cg.weft.3 | head -40
//!
//! # instructions per HTTP request: (Ir(1000) - Ir(200)) / (800 * 8)
//! valgrind --tool=callgrind --callgrind-out-file=cg.http.weft.1000 \
//!     target/release/profile_workload weft mt1 http_hello 1000
//! ```

use std::process::ExitCode;

use weft_benches::axum::{axum_hello, AxumRt};
use weft_benches::http::http_hello;
use weft_benches::{Tokio, Weft, Workload, WORKER_THREADS};

/// Keep-alive connections in the `http_hello` and `axum_hello` workloads.
const HTTP_PROFILE_CONNS: usize = 8;

/// The workload to run: a scheduler workload or the HTTP one.
#[derive(Clone, Copy)]
enum Job {
    Sched(Workload),
    HttpHello,
    AxumHello,
}

impl Job {
    fn name(self) -> &'static str {
        match self {
            Job::Sched(w) => w.name(),
            Job::HttpHello => "http_hello",
            Job::AxumHello => "axum_hello",
        }
    }
}

/// How many workers the runtime gets (`None`: the current-thread flavor).
#[derive(Clone, Copy)]
struct Flavor {
    workers: Option<usize>,
    name: &'static str,
}

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
        "usage: profile_workload weft|tokio ct|mt|mt1 WORKLOAD [ITERS<={MAX_ITERS}]\n\
         workloads: {}, http_hello, axum_hello",
        names.join(", ")
    );
    ExitCode::from(2)
}

fn run<R: AxumRt>(flavor: Flavor, job: Job, iters: u64) {
    let rt = match flavor.workers {
        None => R::current_thread(),
        Some(n) => R::with_workers(n),
    };
    let elapsed = match job {
        Job::Sched(workload) => workload.run(&rt, iters),
        Job::HttpHello => {
            let reqs = usize::try_from(iters).expect("ITERS fits usize");
            http_hello(&rt, HTTP_PROFILE_CONNS, reqs)
        }
        Job::AxumHello => {
            let reqs = usize::try_from(iters).expect("ITERS fits usize");
            axum_hello(&rt, HTTP_PROFILE_CONNS, reqs)
        }
    };
    println!(
        "{} {} {}: {iters} iterations in {:.3} ms",
        R::NAME,
        flavor.name,
        job.name(),
        elapsed.as_secs_f64() * 1e3
    );
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !(3..=4).contains(&args.len()) {
        return usage();
    }
    let flavor = match args[1].as_str() {
        "ct" => Flavor { workers: None, name: "ct" },
        "mt" => Flavor { workers: Some(WORKER_THREADS), name: "mt" },
        "mt1" => Flavor { workers: Some(1), name: "mt1" },
        _ => return usage(),
    };
    let job = match args[2].as_str() {
        "http_hello" => Job::HttpHello,
        "axum_hello" => Job::AxumHello,
        name => match ALL.iter().copied().find(|w| w.name() == name) {
            Some(w) => Job::Sched(w),
            None => return usage(),
        },
    };
    let iters = match args.get(3).map(|s| s.parse::<u64>()) {
        None => 1,
        Some(Ok(n)) if (1..=MAX_ITERS).contains(&n) => n,
        Some(_) => return usage(),
    };
    match args[0].as_str() {
        "weft" => run::<Weft>(flavor, job, iters),
        "tokio" => run::<Tokio>(flavor, job, iters),
        _ => return usage(),
    }
    ExitCode::SUCCESS
}
