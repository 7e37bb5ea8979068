//! The task core: one heap cell per task and the protocol around it.
//!
//! A task is one allocation (`cell`): the state word and vtable, the
//! future or its output, and the JoinHandle's waker. The state word's
//! transitions (`state`) decide which thread may touch which part; the
//! harness (`harness`) performs poll, cancel and completion; `raw` holds
//! the reference-owning handles that queues and lists store; `list` is the
//! runtime's list of owned tasks, which shutdown empties. Only the user's
//! side of a task (`JoinHandle`, `AbortHandle`, `JoinError`) leaves the
//! runtime, re-exported by `weft::task`. Each task has an `Id` (from
//! `weft_util`, given at spawn) and its spawn location in its header.

mod cell;
mod error;
mod harness;
mod join;
pub(crate) mod list;
mod raw;
mod state;
mod waker;

use std::future::Future;

pub use error::JoinError;
pub use join::{AbortHandle, JoinHandle};
pub(crate) use raw::{Notified, RawTask, Task};

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
/// owned-list entry, the first `Notified` and the `JoinHandle`. Its spawn
/// location is the call site (the first caller up the stack that is not
/// `#[track_caller]`).
#[track_caller]
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

/// [`new_task`] for a future (and output) that need not be `Send`: a
/// `LocalSet`'s task, spawned with the spawn location of the caller.
///
/// The task core itself does not need `Send` (it never moves a future or
/// an output between threads on its own); the scheduler decides where a
/// task is polled, cancelled and shut down, and the `JoinHandle<T>` is
/// `Send` only when `T` is. So this relaxation is sound for exactly the
/// schedulers that keep the stage on one thread.
///
/// # Safety
/// `scheduler` runs every `Notified` of this task (polls and the cancels
/// they do) and calls `Task::shutdown` on its owned-list reference only on
/// the thread that calls this function, and keeps that owned-list
/// reference until it has done one of those to completion (so the last
/// reference, which may be dropped on any thread, never frees a cell that
/// still holds the future). The returned `JoinHandle` is made on this
/// thread, so a `!Send` output is read or dropped only here.
#[track_caller]
pub(crate) unsafe fn new_local_task<F, S>(
    future: F,
    scheduler: S,
) -> (Task<S>, Notified<S>, JoinHandle<F::Output>)
where
    F: Future + 'static,
    F::Output: 'static,
    S: Schedule,
{
    // SAFETY: this function's own contract is the one `RawTask::new` asks
    // of a `!Send` future, and our caller keeps it.
    let raw = unsafe { RawTask::new(future, scheduler, SpawnMeta::task()) };
    // SAFETY: a new task starts with exactly these three references (see
    // state::INITIAL) and its output type is F::Output.
    unsafe { (Task::from_raw(raw), Notified::from_raw(raw), JoinHandle::new(raw)) }
}

/// [`new_task`] with the spawn location (and, with the `tracing` feature,
/// the kind) captured by the caller.
pub(super) fn new_task_with<F, S>(
    future: F,
    scheduler: S,
    meta: SpawnMeta,
) -> (Task<S>, Notified<S>, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    // SAFETY: `F` and `F::Output` are `Send` (the bounds above), so no
    // contract applies.
    let raw = unsafe { RawTask::new(future, scheduler, meta) };
    // SAFETY: a new task starts with exactly these three references (see
    // state::INITIAL) and its output type is F::Output.
    unsafe { (Task::from_raw(raw), Notified::from_raw(raw), JoinHandle::new(raw)) }
}
