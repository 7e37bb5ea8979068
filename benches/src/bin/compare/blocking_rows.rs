//! The blocking-pool rows: `spawn_blocking` throughput and start latency.

use super::*;

/// A blocking-pool sample's result and the pool threads its warm-up left
/// alive.
pub(super) struct BlockingSample<T> {
    pub(super) value: T,
    pub(super) threads: usize,
}

/// Builds a fresh `R` runtime, warms its blocking pool with one untimed run
/// of the workload (`jobs` in batches of `batch`) and returns it with the
/// number of threads the warm-up started (the pool threads alive).
pub(super) fn warm_runtime<R: Rt>(jobs: usize, batch: usize) -> (R, usize) {
    let rt = R::with_workers(WORKER_THREADS);
    let before = weft_dev_support::threads();
    blocking::warm(&rt, jobs, batch);
    let threads = weft_dev_support::threads().saturating_sub(before);
    (rt, threads as usize)
}

/// `spawn_blocking` throughput on a fresh, warmed `R` runtime: ns per job.
pub(super) fn blocking_throughput_sample<R: Rt>(dog: &Watchdog) -> BlockingSample<f64> {
    dog.starting(format!("spawn_blocking throughput on {}", R::NAME));
    let (rt, threads) = warm_runtime::<R>(THROUGHPUT_JOBS, THROUGHPUT_JOBS);
    let elapsed = blocking::throughput(&rt, THROUGHPUT_JOBS);
    drop(rt);
    BlockingSample { value: elapsed.as_secs_f64() * 1e9 / THROUGHPUT_JOBS as f64, threads }
}

/// Spawn-to-start latency in batches of `batch` on a fresh, warmed `R`
/// runtime: (round trip µs per job, p50 µs, p99 µs).
pub(super) fn blocking_latency_sample<R: Rt>(
    batch: usize,
    dog: &Watchdog,
) -> BlockingSample<[f64; 3]> {
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
pub(super) struct PoolThreads {
    pub(super) throughput: (usize, usize),
    pub(super) one: (usize, usize),
    pub(super) burst: (usize, usize),
}

/// The blocking-pool rows, filled round by round.
pub(super) struct BlockingRows {
    pub(super) throughput: Row,
    pub(super) one_round_trip: Row,
    pub(super) one_p50: Row,
    pub(super) one_p99: Row,
    pub(super) burst_p50: Row,
    pub(super) burst_p99: Row,
    pub(super) threads: PoolThreads,
}

impl BlockingRows {
    pub(super) fn new() -> BlockingRows {
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
    pub(super) fn sample(&mut self, weft_first: bool, dog: &Watchdog) {
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

    pub(super) fn into_rows(self) -> (Vec<Row>, PoolThreads) {
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
