//! The blocking-pool workloads: `spawn_blocking` throughput and the latency
//! from the `spawn_blocking` call to the closure starting.
//!
//! Every job is submitted from a task on a worker thread (the way a server
//! hands a file read or a hash to the pool), through [`Rt::spawn_blocking`],
//! and every job's `JoinHandle` is awaited in that task. Both runtimes use
//! their default pool settings (512 threads at most, 10 s keep-alive).
//!
//! Callers warm the pool first (see [`warm`]) so that the measured jobs find
//! threads already alive: starting a thread costs tens of µs, far more than
//! handing a job to an idle one, and a cold pool would measure thread
//! creation rather than the pool.

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Rt;

/// Jobs per run of [`throughput`].
pub const THROUGHPUT_JOBS: usize = 100_000;
/// Jobs per run of [`latency`].
pub const LATENCY_JOBS: usize = 10_000;
/// Jobs submitted at once, then all awaited, by the burst variant of
/// [`latency`].
pub const LATENCY_BURST: usize = 64;

/// `spawn_blocking` throughput: a task on a worker submits `jobs` tiny
/// closures (each increments a shared counter and returns the old value),
/// then awaits every handle in order. Returns the time from the first
/// submission to the last handle resolved.
///
/// Checks that every closure ran exactly once.
pub fn throughput<R: Rt>(rt: &R, jobs: usize) -> Duration {
    let counter = Arc::new(AtomicUsize::new(0));
    let task_counter = counter.clone();
    let handle = rt.spawn(async move {
        let mut handles = Vec::with_capacity(jobs);
        let start = Instant::now();
        for _ in 0..jobs {
            let counter = task_counter.clone();
            handles.push(R::spawn_blocking(move || counter.fetch_add(1, Relaxed)));
        }
        let mut sum = 0usize;
        for handle in handles {
            sum += handle.await.expect("blocking job failed");
        }
        (start.elapsed(), sum)
    });
    let (elapsed, sum) = rt.block_on(handle).expect("throughput task failed");
    // The old values returned are 0..jobs in some order.
    assert_eq!(counter.load(Relaxed), jobs, "a blocking job did not run once");
    assert_eq!(sum, jobs * jobs.saturating_sub(1) / 2, "a blocking job ran twice");
    elapsed
}

/// One run of [`latency`].
#[derive(Clone, Debug)]
pub struct LatencyRun {
    /// For every job, closure start minus the instant just before its
    /// `spawn_blocking` call, in ns.
    pub start_ns: Vec<u64>,
    /// Time of the whole run (submissions, jobs and awaits).
    pub elapsed: Duration,
}

/// Spawn-to-start latency: a task on a worker submits `jobs` closures in
/// batches of `batch` (1: submit one, await it, submit the next), awaiting a
/// whole batch before submitting the next. Each closure returns how long
/// after its submission it started. With `batch` 1 the pool always has an
/// idle thread, so this is the cost of handing a job over and waking a
/// thread, not of queueing.
pub fn latency<R: Rt>(rt: &R, jobs: usize, batch: usize) -> LatencyRun {
    assert!(batch > 0, "batch must be at least 1");
    let handle = rt.spawn(async move {
        let mut start_ns = Vec::with_capacity(jobs);
        let mut handles = Vec::with_capacity(batch);
        let start = Instant::now();
        let mut left = jobs;
        while left > 0 {
            let n = batch.min(left);
            for _ in 0..n {
                let submitted = Instant::now();
                handles.push(R::spawn_blocking(move || submitted.elapsed().as_nanos() as u64));
            }
            for handle in handles.drain(..) {
                start_ns.push(handle.await.expect("blocking job failed"));
            }
            left -= n;
        }
        LatencyRun { start_ns, elapsed: start.elapsed() }
    });
    rt.block_on(handle).expect("latency task failed")
}

/// Warms `rt`'s blocking pool for a run of `jobs` jobs in batches of
/// `batch` (`batch == jobs` for [`throughput`]): runs the same workload
/// once, untimed, so the pool has started the threads that workload makes
/// it start, and they are idle (within their keep-alive) when the timed run
/// begins.
pub fn warm<R: Rt>(rt: &R, jobs: usize, batch: usize) {
    if batch >= jobs {
        throughput(rt, jobs);
    } else {
        latency(rt, jobs, batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Tokio, Weft};

    #[test]
    fn workloads_complete_on_both_runtimes() {
        fn check<R: Rt>() {
            let rt = R::with_workers(2);
            assert!(throughput(&rt, 2_000) > Duration::ZERO);
            for batch in [1, LATENCY_BURST, 1_000] {
                let run = latency(&rt, 500, batch);
                assert_eq!(run.start_ns.len(), 500);
                assert!(run.start_ns.iter().all(|&ns| ns < 60_000_000_000));
            }
            warm(&rt, 100, 100);
            warm(&rt, 100, 1);
        }
        check::<Weft>();
        check::<Tokio>();
    }
}
