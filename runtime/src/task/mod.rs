//! Tasks: spawning, joining, aborting and yielding, and their identity;
//! `!Send` tasks on a [`LocalSet`] ([`spawn_local`]).
//!
//! The user's side of tasks. The task core they stand on (the cell, its
//! state word, the harness, the owned-task list) is runtime-internal, in
//! `runtime::task`.

mod id;
mod join_set;
mod local;
mod task_local;
mod yield_now;

use std::future::Future;

pub use crate::runtime::blocking::block_in_place;
pub use crate::runtime::coop::consume_budget;
pub use crate::runtime::cpu::CpuPoolFull;
pub use crate::runtime::task::{AbortHandle, JoinError, JoinHandle};
pub use id::{id, try_id, Id};
pub use join_set::JoinSet;
pub use local::{spawn_local, LocalSet};
pub use task_local::{AccessError, LocalKey, TaskLocalFuture};
pub use yield_now::yield_now;

/// Spawns a future on the current runtime and returns its [`JoinHandle`].
///
/// The task starts running at once on some worker; dropping the handle
/// detaches it.
///
/// # Panics
/// When called outside a weft runtime (neither on a worker thread nor
/// inside `block_on`).
///
/// ```
/// let rt = weft::runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let handle = weft::task::spawn(async { "done" });
///     assert_eq!(handle.await.unwrap(), "done");
/// });
/// ```
///
/// A task may run on any worker, so its future must be `Send`: one that
/// holds an `Rc` across an `.await` is refused at compile time.
///
/// ```compile_fail
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// weft::task::spawn(async {
///     let shared = std::rc::Rc::new(1);
///     weft::task::yield_now().await;
///     drop(shared);
/// });
/// # });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    crate::runtime::spawn_current(future)
}

/// Runs the blocking closure `f` on the current runtime's blocking pool and
/// returns a [`JoinHandle`] for its result, so synchronous calls do not
/// stall the workers.
///
/// The blocking pool is for *blocking calls*: closures that mostly wait (a
/// synchronous file, database or DNS call). For CPU-bound *work* (hashing,
/// compression, parsing), use [`spawn_cpu`]: the blocking pool starts a
/// thread per concurrent job at normal priority, and CPU-bound jobs there
/// compete with the workers for the same cores, so every task waits longer.
///
/// A job goes to an idle pool thread, or a new one while fewer than
/// `max_blocking_threads` exist, or waits in a FIFO queue. A panic in `f`
/// comes back as a panic [`JoinError`]. Aborting the handle cancels the job
/// only if it has not started. At shutdown, queued jobs are cancelled and
/// running ones are waited for (up to the `shutdown_timeout`).
///
/// # Panics
/// Outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let digest = weft::task::spawn_blocking(|| (0..1_000_000u64).sum::<u64>()).await.unwrap();
/// assert_eq!(digest, 499_999_500_000);
/// # });
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    crate::runtime::Handle::current().spawn_blocking(f)
}

/// Runs the CPU-bound closure `f` on the current runtime's CPU pool and
/// returns a [`JoinHandle`] for its result.
///
/// For CPU-bound *work*: hashing, compression, image resizing, parsing a
/// large document. The CPU pool has one thread per core
/// ([`cpu_threads`](crate::runtime::Builder::cpu_threads)) running at the
/// lowest priority ([`CpuPriority`](crate::runtime::CpuPriority)), so the
/// workers win: a worker with a task to run preempts a CPU job, and the
/// jobs use every cycle the workers leave. (A lock shared between CPU jobs
/// and tasks can make a task wait for a preempted job: see
/// [`CpuPriority::Idle`](crate::runtime::CpuPriority::Idle).) For closures that
/// mostly *wait* (synchronous I/O), use [`spawn_blocking`]: a CPU thread
/// that sleeps holds one of only a few places.
///
/// At most `cpu_threads` jobs run at once; the rest wait in FIFO order.
/// This never refuses a job (the queue grows as needed); to shed load
/// instead, use [`try_spawn_cpu`]. A panic in `f` comes back as a panic
/// [`JoinError`]. Aborting the handle before the job starts cancels it (`f`
/// is dropped unrun, and the handle resolves as cancelled, when a CPU
/// thread reaches the job in the queue; until then it holds its place in
/// `cpu_queue_capacity`); a job that has started runs to the end. At shutdown,
/// queued jobs are cancelled (each closure dropped once) and running ones
/// are waited for, as for the blocking pool.
///
/// # Panics
/// Outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// let data = vec![7u8; 1 << 20];
/// let checksum = weft::task::spawn_cpu(move || data.iter().map(|&b| u64::from(b)).sum::<u64>())
///     .await
///     .unwrap();
/// assert_eq!(checksum, 7 << 20);
/// # });
/// ```
#[track_caller]
pub fn spawn_cpu<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    crate::runtime::Handle::current().spawn_cpu(f)
}

/// Like [`spawn_cpu`], but refuses at once when the CPU pool is full (every
/// CPU thread busy and
/// [`cpu_queue_capacity`](crate::runtime::Builder::cpu_queue_capacity) jobs
/// waiting), so a server can shed load (answer 503, stop reading) instead
/// of queueing without bound. The error gives the closure back, unrun.
///
/// After the runtime has shut down, it returns a handle that resolves as
/// cancelled, as [`spawn_cpu`] does.
///
/// # Errors
/// [`CpuPoolFull`] when the pool has no room.
///
/// # Panics
/// Outside a weft runtime.
///
/// ```
/// # weft::runtime::Runtime::new().unwrap().block_on(async {
/// match weft::task::try_spawn_cpu(|| (1..=20u64).product::<u64>()) {
///     Ok(job) => assert_eq!(job.await.unwrap(), 2_432_902_008_176_640_000),
///     Err(full) => eprintln!("busy, try again later: {full}"),
/// }
/// # });
/// ```
#[track_caller]
pub fn try_spawn_cpu<F, R>(f: F) -> Result<JoinHandle<R>, CpuPoolFull<F>>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    crate::runtime::Handle::current().try_spawn_cpu(f)
}
