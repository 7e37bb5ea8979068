//! Criterion version of the scheduler workloads: one group per workload, with
//! `weft` and `tokio` as its two functions, each on a runtime with
//! [`WORKER_THREADS`] workers. Times are per workload iteration.
//!
//! Run with `cargo bench -p weft-benches --bench scheduler`.

use std::time::Duration;

use criterion::Criterion;
use weft_benches::groups::Group;
use weft_benches::{Rt, Tokio, Weft, Workload, WORKER_THREADS};

/// Registers `workload` on a fresh `R` runtime as function `R::NAME`.
fn bench_on<R: Rt>(group: &mut Group<'_>, workload: Workload) {
    let rt = R::with_workers(WORKER_THREADS);
    group.bench_function(R::NAME, |b| b.iter_custom(|iters| workload.run(&rt, iters)));
}

fn scheduler(c: &mut Criterion) {
    for workload in Workload::ALL {
        let mut group = c.benchmark_group(workload.name());
        group
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
        bench_on::<Weft>(&mut group, workload);
        bench_on::<Tokio>(&mut group, workload);
        group.finish();
    }
}

// Written out rather than with `criterion_group!`, whose generated `pub fn`
// would trip `missing_docs`.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    scheduler(&mut c);
    c.final_summary();
}
