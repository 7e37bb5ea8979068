//! [`RuntimeMetrics`]: counters read from a live runtime.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use crate::loom::sync::Arc;
use crate::runtime::scheduler::{poll_time_bucket_start, Shared, POLL_TIME_BUCKETS};

/// A view of a runtime's counters. Values are read when asked (cheap,
/// slightly stale under load); per-worker figures take a worker index in
/// `0..num_workers()`.
///
/// ```
/// let rt = weft::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
/// rt.block_on(async { weft::spawn(async {}).await.unwrap() });
/// let m = rt.metrics();
/// let polls: u64 = (0..m.num_workers()).map(|w| m.worker_poll_count(w)).sum();
/// assert!(polls >= 1);
/// ```
#[derive(Clone)]
pub struct RuntimeMetrics {
    pub(crate) shared: Arc<Shared>,
}

impl RuntimeMetrics {
    /// Number of worker threads.
    pub fn num_workers(&self) -> usize {
        self.shared.num_workers()
    }

    /// Tasks spawned and not yet completed (running, queued or idle).
    pub fn num_alive_tasks(&self) -> usize {
        self.shared.alive_tasks()
    }

    /// Timers registered in the workers' wheels (pending, or fired and not
    /// yet seen by their `Sleep`).
    pub fn num_timers(&self) -> usize {
        (0..self.num_workers()).map(|w| self.shared.time(w).len()).sum()
    }

    /// Threads alive in the blocking pool (including `block_in_place`
    /// replacement workers).
    pub fn blocking_threads(&self) -> usize {
        self.shared.blocking_pool().metrics().threads_alive
    }

    /// Blocking-pool threads waiting for a job.
    pub fn idle_blocking_threads(&self) -> usize {
        self.shared.blocking_pool().metrics().idle_threads
    }

    /// Blocking jobs waiting for a thread.
    pub fn blocking_queue_depth(&self) -> usize {
        self.shared.blocking_pool().metrics().queue_depth
    }

    /// Blocking jobs completed (including `block_in_place` hand-offs).
    pub fn blocking_jobs_completed(&self) -> u64 {
        self.shared.blocking_pool().metrics().jobs_completed
    }

    /// Tasks waiting in the global injector queue.
    pub fn injector_depth(&self) -> usize {
        self.shared.injector_depth()
    }

    /// Task polls performed by `worker`.
    pub fn worker_poll_count(&self, worker: usize) -> u64 {
        self.shared.worker_metrics(worker).polls()
    }

    /// Tasks `worker` stole from siblings (including rescued LIFO tasks).
    pub fn worker_steal_count(&self, worker: usize) -> u64 {
        self.shared.worker_metrics(worker).steals()
    }

    /// Times `worker` parked for lack of work.
    pub fn worker_park_count(&self, worker: usize) -> u64 {
        self.shared.worker_metrics(worker).parks()
    }

    /// Polls the stall monitor reported as stalls (see
    /// [`Builder::stall_threshold`](crate::runtime::Builder::stall_threshold)).
    pub fn stall_count(&self) -> u64 {
        self.shared.stall_count()
    }

    /// How long `worker`'s task polls took, as a histogram; `None` unless
    /// the runtime was built with
    /// [`enable_poll_time_histogram`](crate::runtime::Builder::enable_poll_time_histogram).
    ///
    /// ```
    /// let rt = weft::runtime::Builder::new_multi_thread()
    ///     .worker_threads(1)
    ///     .enable_poll_time_histogram()
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async { weft::spawn(async {}).await.unwrap() });
    /// let metrics = rt.metrics();
    /// // A worker counts a poll once it returned, maybe after the task's
    /// // JoinHandle saw the output: shut down to be sure it has.
    /// drop(rt);
    /// let histogram = metrics.worker_poll_time_histogram(0).unwrap();
    /// assert!(histogram.buckets().map(|(_, count)| count).sum::<u64>() >= 1);
    /// ```
    pub fn worker_poll_time_histogram(&self, worker: usize) -> Option<PollTimeHistogram> {
        let times = self.shared.poll_times(worker)?;
        Some(PollTimeHistogram { counts: times.counts() })
    }

    /// Tasks queued on `worker` (its deque plus its LIFO slot).
    pub fn worker_local_queue_depth(&self, worker: usize) -> usize {
        self.shared.worker_queue_depth(worker)
    }
}

impl fmt::Debug for RuntimeMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeMetrics")
            .field("num_workers", &self.num_workers())
            .field("num_alive_tasks", &self.num_alive_tasks())
            .field("injector_depth", &self.injector_depth())
            .finish()
    }
}

/// A worker's task poll times, counted in logarithmic buckets: under 1 µs,
/// then [1, 2) µs, [2, 4) µs, … doubling up to [2^19, 2^20) µs, and a last
/// bucket for polls of 2^20 µs (about 1.05 s) or more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollTimeHistogram {
    counts: Vec<u64>,
}

impl PollTimeHistogram {
    /// Number of buckets.
    pub fn num_buckets(&self) -> usize {
        self.counts.len()
    }

    /// The poll times bucket `i` counts; the last bucket's range ends at
    /// `Duration::MAX`.
    ///
    /// # Panics
    /// If `i` is not below [`num_buckets`](Self::num_buckets).
    pub fn bucket_range(&self, i: usize) -> Range<Duration> {
        assert!(i < self.counts.len(), "bucket {i} of {}", self.counts.len());
        let end =
            if i + 1 == POLL_TIME_BUCKETS { Duration::MAX } else { poll_time_bucket_start(i + 1) };
        poll_time_bucket_start(i)..end
    }

    /// Polls counted in bucket `i`.
    ///
    /// # Panics
    /// If `i` is not below [`num_buckets`](Self::num_buckets).
    pub fn bucket_count(&self, i: usize) -> u64 {
        self.counts[i]
    }

    /// Every bucket's range and count, shortest polls first.
    pub fn buckets(&self) -> impl Iterator<Item = (Range<Duration>, u64)> + '_ {
        (0..self.counts.len()).map(|i| (self.bucket_range(i), self.counts[i]))
    }
}
