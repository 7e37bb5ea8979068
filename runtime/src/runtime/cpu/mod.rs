//! The CPU pool: where CPU-bound closures run ([`spawn_cpu`],
//! [`try_spawn_cpu`]), below the workers.
//!
//! # Which pool for what
//!
//! - The **blocking pool** (`spawn_blocking`) is for blocking *calls*: a
//!   thread that mostly sleeps in the kernel (a file read, a DNS lookup, a
//!   synchronous client). It grows to hundreds of threads so that sleepers
//!   never wait for each other, at normal priority.
//! - The **CPU pool** is for CPU-bound *work*: hashing, compression, image
//!   resizing, parsing a large document. Its threads never sleep during a
//!   job, so more threads than cores only make the kernel share time slices
//!   between them and the workers, and every task on the workers waits its
//!   turn. The CPU pool has one thread per core (`cpu_threads`) and runs
//!   them at the lowest priority an unprivileged process may set
//!   ([`CpuPriority::Idle`]): a worker with a task to run preempts them,
//!   and the jobs use every cycle the workers leave. (Its one hazard, a
//!   CPU job preempted while holding a lock a task needs, is on
//!   `CpuPriority::Idle`.) Threads a CPU job makes the blocking pool start
//!   are started by a normal-priority thread, so the low priority does not
//!   spread (see `starter.rs`).
//!
//! # Policy
//!
//! The pool is a `weft-blocking` pool with `max_threads = cpu_threads`, a
//! bounded queue (`cpu_queue_capacity`, see `weft_blocking`'s "Bounded
//! queue"), and an `on_thread_start` hook that lowers the thread's
//! priority before the runtime's own hook runs. So its admission, FIFO
//! order, cancellation and shutdown are the blocking pool's: at most
//! `cpu_threads` jobs run at once and the rest wait in order;
//! [`try_spawn_cpu`] refuses once `cpu_threads + cpu_queue_capacity` jobs
//! are in flight (giving the closure back in [`CpuPoolFull`]), while
//! [`spawn_cpu`] never refuses; a panic becomes a `JoinError`; aborting a
//! job that has not started cancels it; shutdown cancels queued jobs
//! (dropping each closure once) and waits for running ones.
//!
//! Each job's queue wait (submit to start) is counted in a histogram, the
//! signal a server watches to shed load before the queue is full.

pub(crate) mod pool;
mod priority;
mod starter;

use std::fmt;
use std::time::Instant;

pub(crate) use pool::{CpuPool, CpuSettings, DEFAULT_QUEUE_PER_THREAD};
pub use priority::CpuPriority;
pub(crate) use starter::{at_normal_priority, prepare as prepare_starter};

use crate::loom::sync::Arc;
use crate::runtime::blocking::blocking_job;
use crate::runtime::scheduler::Shared;
use crate::runtime::task::JoinHandle;
use crate::trace::SpawnMeta;

/// Spawns `f` on the CPU pool; never refuses (see [`crate::task::spawn_cpu`]).
#[track_caller]
pub(crate) fn spawn_cpu<F, R>(shared: &Arc<Shared>, f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    // After shutdown the pool drops the job unrun, which cancels the task:
    // the handle resolves as cancelled.
    submit(shared, shared.cpu_pool().pool().reserve(), f)
}

/// Spawns `f` on the CPU pool if it has room (see
/// [`crate::task::try_spawn_cpu`]).
#[track_caller]
pub(crate) fn try_spawn_cpu<F, R>(
    shared: &Arc<Shared>,
    f: F,
) -> Result<JoinHandle<R>, CpuPoolFull<F>>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let cpu = shared.cpu_pool();
    match cpu.pool().try_reserve() {
        Ok(permit) => Ok(submit(shared, permit, f)),
        Err(err) if err.is_full() => {
            let CpuSettings { threads, queue_capacity, .. } = cpu.settings();
            Err(CpuPoolFull { f, threads, queue_capacity })
        }
        // Shut down: as `spawn_cpu` then, a handle that resolves as
        // cancelled (the job is dropped unrun).
        Err(_) => Ok(spawn_cpu(shared, f)),
    }
}

/// Runs `f` as a task in the place `permit` holds, through a pool job that
/// counts its queue wait.
///
/// The place rides in the task's closure, not in the pool job: the task's
/// handle resolves inside the job, so a place held by the job would still
/// be taken when the caller sees the handle resolve, and a `try_spawn_cpu`
/// right after could be refused with a thread free. Here the place is
/// dropped as soon as `f` returns or unwinds, or with the closure when the
/// task is cancelled, both before the harness completes the handle.
#[track_caller]
fn submit<F, R>(shared: &Arc<Shared>, permit: weft_blocking::Permit, f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (place, spawner) = permit.into_parts();
    let placed = move || {
        let _place = place;
        f()
    };
    let (job, join) = blocking_job(shared, placed, SpawnMeta::cpu());
    let queued_at = Instant::now();
    let timed = shared.clone();
    drop(spawner.spawn(move || {
        timed.cpu_pool().queue_wait().record(queued_at.elapsed());
        job.run();
    }));
    join
}

/// [`try_spawn_cpu`](crate::task::try_spawn_cpu) refused a job because the
/// runtime's CPU pool is full: every CPU thread is running a job and
/// `cpu_queue_capacity` more are waiting. It holds the closure, unrun, for
/// the caller to run elsewhere, retry later ([`into_inner`](Self::into_inner)),
/// or drop (shedding the work, e.g. answering 503).
///
/// ```
/// # weft::runtime::Builder::new_multi_thread().cpu_threads(1).cpu_queue_capacity(0).build().unwrap().block_on(async {
/// let (release, gate) = std::sync::mpsc::channel::<()>();
/// // Holds the only CPU thread; with no queue places, nothing else fits.
/// let busy = weft::task::spawn_cpu(move || gate.recv());
/// let full = weft::task::try_spawn_cpu(|| 6 * 7).unwrap_err();
/// assert!(full.to_string().contains("CPU pool is full"));
/// let f = full.into_inner(); // the closure, unrun
/// assert_eq!(f(), 42);
/// release.send(()).unwrap();
/// busy.await.unwrap().unwrap();
/// # });
/// ```
pub struct CpuPoolFull<F> {
    f: F,
    threads: usize,
    queue_capacity: usize,
}

impl<F> CpuPoolFull<F> {
    /// The closure, unrun.
    pub fn into_inner(self) -> F {
        self.f
    }
}

impl<F> fmt::Debug for CpuPoolFull<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpuPoolFull")
            .field("threads", &self.threads)
            .field("queue_capacity", &self.queue_capacity)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for CpuPoolFull<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the runtime's CPU pool is full: all {} CPU threads are busy and {} more jobs are \
             waiting (cpu_queue_capacity); the job was not started, and `into_inner` gives it \
             back",
            self.threads, self.queue_capacity
        )
    }
}

impl<F> std::error::Error for CpuPoolFull<F> {}
