//! Criterion version of the timer workloads (see `weft_benches::timers`):
//! `timers_fire` (time per run of 100k one-sleep tasks; lateness is only
//! reported by the `compare` binary) and `timers_cancel` (time per 1M
//! sleeps created, polled once and dropped), with `weft` and `tokio` as the
//! functions of each group, on runtimes with [`WORKER_THREADS`] workers.
//!
//! Run with `cargo bench -p weft-benches --bench timers`.

use std::time::Duration;

use criterion::Criterion;
use weft_benches::groups::{self, Group};
use weft_benches::timers::{self, CANCEL_SLEEPS, FIRE_TIMERS};
use weft_benches::{Rt, Tokio, Weft, WORKER_THREADS};

/// `timers_fire` on a fresh `R` runtime; each iteration is one run with its
/// own seed.
fn fire_on<R: Rt>(group: &mut Group<'_>) {
    let rt = R::with_workers(WORKER_THREADS);
    let mut run = 0;
    group.bench_function(R::NAME, |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    run += 1;
                    timers::timers_fire(&rt, run, FIRE_TIMERS).elapsed
                })
                .sum()
        });
    });
}

/// `timers_cancel` on a fresh `R` runtime.
fn cancel_on<R: Rt>(group: &mut Group<'_>) {
    let rt = R::with_workers(WORKER_THREADS);
    group.bench_function(R::NAME, |b| b.iter_custom(|iters| timers::timers_cancel(&rt, iters)));
}

fn timer_benches(c: &mut Criterion) {
    let mut group = groups::flat(c, "timers_fire", Duration::from_secs(5), FIRE_TIMERS);
    fire_on::<Weft>(&mut group);
    fire_on::<Tokio>(&mut group);
    group.finish();

    let mut group = groups::flat(c, "timers_cancel", Duration::from_secs(4), CANCEL_SLEEPS);
    cancel_on::<Weft>(&mut group);
    cancel_on::<Tokio>(&mut group);
    group.finish();
}

// Written out rather than with `criterion_group!`, whose generated `pub fn`
// would trip `missing_docs`.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    timer_benches(&mut c);
    c.final_summary();
}
