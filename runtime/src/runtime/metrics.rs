//! [`RuntimeMetrics`]: counters read from a live runtime.

use std::fmt;

use super::histogram::{AtomicHistogram, Histogram};
use crate::loom::sync::Arc;
use crate::runtime::scheduler::Shared;

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

    /// Whether `weft::fs` runs on the workers' io_uring rings (see
    /// [`Builder::io_uring`](crate::runtime::Builder::io_uring)); false on
    /// the blocking-pool fallback.
    pub fn io_uring_enabled(&self) -> bool {
        self.uring_counts().0
    }

    /// File operations submitted to the workers' io_uring rings.
    pub fn io_uring_ops_submitted(&self) -> u64 {
        self.uring_counts().1
    }

    /// File operations completed on the workers' io_uring rings.
    pub fn io_uring_ops_completed(&self) -> u64 {
        self.uring_counts().2
    }

    fn uring_counts(&self) -> (bool, u64, u64) {
        #[cfg(all(target_os = "linux", not(loom)))]
        return self.shared.uring_counts();
        #[cfg(not(all(target_os = "linux", not(loom))))]
        (false, 0, 0)
    }

    /// Blocking jobs completed (including `block_in_place` hand-offs).
    pub fn blocking_jobs_completed(&self) -> u64 {
        self.shared.blocking_pool().metrics().jobs_completed
    }

    /// Threads alive in the CPU pool ([`spawn_cpu`](crate::task::spawn_cpu)
    /// jobs); at most [`cpu_threads`](crate::runtime::Builder::cpu_threads).
    pub fn cpu_threads(&self) -> usize {
        self.shared.cpu_pool().pool().metrics().threads_alive
    }

    /// CPU-pool threads running a job.
    pub fn cpu_busy_threads(&self) -> usize {
        self.shared.cpu_pool().pool().metrics().busy_threads
    }

    /// CPU jobs waiting for a CPU thread.
    pub fn cpu_queue_depth(&self) -> usize {
        self.shared.cpu_pool().pool().metrics().queue_depth
    }

    /// CPU jobs a CPU thread finished with: returned, panicked, or found
    /// aborted before it started (dropped unrun).
    pub fn cpu_jobs_completed(&self) -> u64 {
        self.shared.cpu_pool().pool().metrics().jobs_completed
    }

    /// How long CPU jobs waited in the CPU pool's queue, from
    /// [`spawn_cpu`](crate::task::spawn_cpu) (or `try_spawn_cpu`) to the
    /// start of the job: one count per job a CPU thread took, including a
    /// job aborted while it waited (it is dropped when reached). Always on (a job reads
    /// the clock twice, nothing next to a CPU-bound job). A growing wait
    /// says the pool is behind before its queue is full: watch
    /// [`Histogram::since`] an earlier snapshot.
    ///
    /// ```
    /// let rt = weft::runtime::Runtime::new().unwrap();
    /// rt.block_on(async { weft::task::spawn_cpu(|| ()).await.unwrap() });
    /// let waits = rt.metrics().cpu_queue_wait_histogram();
    /// assert_eq!(waits.total(), 1);
    /// assert!(waits.percentile(0.99).is_some());
    /// ```
    pub fn cpu_queue_wait_histogram(&self) -> Histogram {
        self.shared.cpu_pool().queue_wait().snapshot()
    }

    /// Tasks waiting in the global injector queue.
    pub fn injector_depth(&self) -> usize {
        self.shared.injector_depth()
    }

    /// Tokio's name for [`injector_depth`](Self::injector_depth): tasks
    /// waiting in the queue all workers take from.
    pub fn global_queue_depth(&self) -> usize {
        self.injector_depth()
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
    pub fn worker_poll_time_histogram(&self, worker: usize) -> Option<Histogram> {
        self.shared.poll_times(worker).map(AtomicHistogram::snapshot)
    }

    /// How long tasks waited, from becoming runnable (spawned, woken, or
    /// yielding) to the start of their next poll, counted by `worker`, the
    /// worker that polled them; `None` unless the runtime was built with
    /// [`enable_schedule_latency_histogram`](crate::runtime::Builder::enable_schedule_latency_histogram).
    ///
    /// ```
    /// let rt = weft::runtime::Builder::new_multi_thread()
    ///     .worker_threads(1)
    ///     .enable_schedule_latency_histogram()
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async { weft::spawn(async {}).await.unwrap() });
    /// let metrics = rt.metrics();
    /// let latency = metrics.worker_schedule_latency_histogram(0).unwrap();
    /// // The task was counted before its poll, so before its output was ready.
    /// assert_eq!(latency.total(), 1);
    /// let p99 = latency.percentile(0.99).unwrap();
    /// println!("99% of the tasks waited less than {p99:?} to run");
    /// ```
    pub fn worker_schedule_latency_histogram(&self, worker: usize) -> Option<Histogram> {
        self.shared.schedule_latencies(worker).map(AtomicHistogram::snapshot)
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

/// A worker's task poll times: a [`Histogram`], under the name it had
/// before every runtime histogram shared one type.
pub type PollTimeHistogram = Histogram;
