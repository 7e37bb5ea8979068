//! Criterion version of the blocking-pool workloads (see
//! `weft_benches::blocking`): `spawn_blocking_throughput` (time per run of
//! 100k tiny closures submitted back to back from a task, then all awaited)
//! and `spawn_blocking_one_at_a_time` (time per run of 10k closures, each
//! awaited before the next is submitted: the round trip), with `weft` and
//! `tokio` as the functions of each group, on runtimes with
//! [`WORKER_THREADS`] workers and default pools. Each runtime's pool is
//! warmed by one untimed run first; criterion's own warm-up keeps it warm.
//! The spawn-to-start latency percentiles are only reported by the
//! `compare` binary.
//!
//! Run with `cargo bench -p weft-benches --bench blocking`.

use std::time::Duration;

use criterion::Criterion;
use weft_benches::blocking::{self, LATENCY_JOBS, THROUGHPUT_JOBS};
use weft_benches::groups::{self, Group};
use weft_benches::{Rt, Tokio, Weft, WORKER_THREADS};

/// Throughput on a fresh, warmed `R` runtime; one iteration is one run.
fn throughput_on<R: Rt>(group: &mut Group<'_>) {
    let rt = R::with_workers(WORKER_THREADS);
    blocking::warm(&rt, THROUGHPUT_JOBS, THROUGHPUT_JOBS);
    group.bench_function(R::NAME, |b| {
        b.iter_custom(|iters| (0..iters).map(|_| blocking::throughput(&rt, THROUGHPUT_JOBS)).sum());
    });
}

/// One-at-a-time round trips on a fresh, warmed `R` runtime; one iteration
/// is one run of [`LATENCY_JOBS`] jobs.
fn one_at_a_time_on<R: Rt>(group: &mut Group<'_>) {
    let rt = R::with_workers(WORKER_THREADS);
    blocking::warm(&rt, LATENCY_JOBS, 1);
    group.bench_function(R::NAME, |b| {
        b.iter_custom(|iters| {
            (0..iters).map(|_| blocking::latency(&rt, LATENCY_JOBS, 1).elapsed).sum()
        });
    });
}

fn blocking_benches(c: &mut Criterion) {
    let measurement = Duration::from_secs(4);
    let mut group = groups::flat(c, "spawn_blocking_throughput", measurement, THROUGHPUT_JOBS);
    throughput_on::<Weft>(&mut group);
    throughput_on::<Tokio>(&mut group);
    group.finish();

    let mut group = groups::flat(c, "spawn_blocking_one_at_a_time", measurement, LATENCY_JOBS);
    one_at_a_time_on::<Weft>(&mut group);
    one_at_a_time_on::<Tokio>(&mut group);
    group.finish();
}

// Written out rather than with `criterion_group!`, whose generated `pub fn`
// would trip `missing_docs`.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    blocking_benches(&mut c);
    c.final_summary();
}
