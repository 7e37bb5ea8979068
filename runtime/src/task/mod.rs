//! Tasks: spawning, joining, aborting and yielding.
//!
//! A task is one heap allocation (see `cell`): the state word and vtable,
//! the future or its output, and the JoinHandle's waker. The state word's
//! transitions (`state`) decide which thread may touch which part; the
//! harness (`harness`) performs poll, cancel and completion; `raw` holds the
//! reference-owning handles that queues and lists store.

mod cell;
mod error;
mod harness;
mod join;
mod join_set;
pub(crate) mod list;
pub(crate) mod raw;
pub(crate) mod state;
mod waker;
mod yield_now;

use std::future::Future;

pub use crate::blocking::block_in_place;
pub use crate::coop::consume_budget;
pub use error::JoinError;
pub use join::{AbortHandle, JoinHandle};
pub use join_set::JoinSet;
pub(crate) use raw::{Notified, RawTask, Task};
pub use yield_now::yield_now;

use crate::trace::SpawnMeta;

/// What a task needs from the scheduler that runs it.
///
/// `schedule` and `yield_now` are called with `&self` borrowed from inside
/// a task cell (the cell owns its scheduler handle). Dropping a task
/// reference there could free that very cell, and the scheduler with it,
/// under the borrow; so they never drop one: whatever they must let go of
/// comes back as [`Unqueued`], which the caller drops after the borrow ends.
pub(crate) trait Schedule: Send + Sync + Sized + 'static {
    /// Queues a task that was woken (from any thread).
    fn schedule(&self, task: Notified<Self>) -> Unqueued<Self>;

    /// Queues a task that woke itself during its own poll: it goes behind
    /// the tasks already waiting.
    fn yield_now(&self, task: Notified<Self>) -> Unqueued<Self> {
        self.schedule(task)
    }

    /// The task completed: take it out of the owned-task list, returning
    /// the list's reference if it was still listed.
    fn release(&self, task: &Task<Self>) -> Option<Task<Self>>;
}

/// Queue references a scheduler took back instead of queueing them (its
/// runtime is shut down and nobody will run them). Dropping them may free
/// task cells and the scheduler itself, so the caller drops this only once
/// it no longer borrows anything inside a task cell.
#[must_use = "drop it once no borrow into a task cell is alive"]
pub(crate) struct Unqueued<S: 'static> {
    /// Held only to be dropped with this value. Boxed so the common case
    /// (nothing handed back) is one null word on the wake path; a bare
    /// `Vec` is three words returned through every scheduling call.
    #[allow(clippy::box_collection)]
    _tasks: Option<Box<Vec<Notified<S>>>>,
}

impl<S: 'static> Unqueued<S> {
    /// Nothing was taken back (no allocation).
    #[inline]
    pub(crate) fn none() -> Unqueued<S> {
        Unqueued { _tasks: None }
    }

    /// These references are handed back to the caller.
    #[cold]
    pub(crate) fn of(tasks: Vec<Notified<S>>) -> Unqueued<S> {
        Unqueued { _tasks: Some(Box::new(tasks)) }
    }
}

/// Allocates a task and returns its three initial references: the
/// owned-list entry, the first `Notified` and the `JoinHandle`. With the
/// `tracing` feature its span records the call site as the spawn location
/// (the first caller up the stack that is not `#[track_caller]`).
#[cfg_attr(feature = "tracing", track_caller)]
#[cfg_attr(not(loom), allow(dead_code))] // the runtime passes a SpawnMeta
pub(crate) fn new_task<F, S>(
    future: F,
    scheduler: S,
) -> (Task<S>, Notified<S>, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    new_task_with(future, scheduler, SpawnMeta::task())
}

/// [`new_task`] with the spawn kind and location captured by the caller
/// (a zero-sized `meta` without the `tracing` feature).
pub(crate) fn new_task_with<F, S>(
    future: F,
    scheduler: S,
    meta: SpawnMeta,
) -> (Task<S>, Notified<S>, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    let raw = RawTask::new(future, scheduler, meta);
    // SAFETY: a new task starts with exactly these three references (see
    // state::INITIAL) and its output type is F::Output.
    unsafe { (Task::from_raw(raw), Notified::from_raw(raw), JoinHandle::new(raw)) }
}

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
