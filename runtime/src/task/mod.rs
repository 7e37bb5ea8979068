//! Tasks: spawning, joining, aborting and yielding, and their identity.
//!
//! The user's side of tasks. The task core they stand on (the cell, its
//! state word, the harness, the owned-task list) is runtime-internal, in
//! `runtime::task`.

mod id;
mod join_set;
mod yield_now;

use std::future::Future;

pub use crate::runtime::blocking::block_in_place;
pub use crate::runtime::coop::consume_budget;
pub use crate::runtime::task::{AbortHandle, JoinError, JoinHandle};
pub use id::{id, try_id, Id};
pub use join_set::JoinSet;
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
/// returns a [`JoinHandle`] for its result, so CPU-heavy work and
/// synchronous calls do not stall the workers.
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
